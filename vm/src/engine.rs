//! The native driver: owns the machine's memory, writes a request, runs `step()` to the end
//! and reads the answer. It runs exactly the `semantics` code the wasm program runs.

use crate::error::Result;
use crate::image::ModelImage;
use crate::io::{Answer, Request, decode_output};
use crate::semantics::layout::{Dims, Region};
use crate::semantics::mem::{rd_u32, wr_u32};
use crate::semantics::sampler::argmax;
use crate::semantics::step::{self, Ctx, ctl};

/// What the step that just ran did (read from the control record before it ran).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepInfo {
    /// 0-based index of the step.
    pub index: u64,
    /// Phase that ran (`semantics::step::PHASE_*`).
    pub phase: u32,
    /// Layer (for layer steps).
    pub layer: u32,
    /// First position of the chunk.
    pub chunk_start: u32,
    /// Tokens in the chunk.
    pub chunk_len: u32,
}

/// The result of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    /// The answer read from the output region.
    pub answer: Answer,
    /// The text as a string (invalid UTF-8 replaced).
    pub text: String,
    /// Steps executed.
    pub steps: u64,
}

/// The native integer engine.
pub struct Engine {
    mem: Vec<u8>,
    cx: Ctx,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("memory_bytes", &self.mem.len())
            .field("ctx", &self.cx)
            .finish()
    }
}

/// Regions that are not part of the initial image (zeroed by [`Engine::reset`]).
const MUTABLE: [Region; 8] = [
    Region::Control,
    Region::Input,
    Region::Output,
    Region::Tokens,
    Region::Hidden,
    Region::Logits,
    Region::Scratch,
    Region::Kv,
];

impl Engine {
    /// A machine loaded with the image.
    pub fn new(image: &ModelImage) -> Engine {
        let mem = image.initial_memory();
        let cx = Ctx::read(&mem);
        Engine { mem, cx }
    }

    /// The model dimensions.
    pub fn dims(&self) -> Dims {
        self.cx.d
    }

    /// The whole memory.
    pub fn memory(&self) -> &[u8] {
        &self.mem
    }

    /// Back to the initial memory (image loaded, everything else zero).
    pub fn reset(&mut self) {
        for r in MUTABLE {
            let o = self.cx.l.offset(r);
            self.mem[o..o + self.cx.l.size(r)].fill(0);
        }
    }

    /// Reset and write a request into the input region (validated first).
    pub fn load(&mut self, req: &Request) -> Result<()> {
        req.validate(&self.cx.d)?;
        self.reset();
        let b = req.encode();
        let o = self.cx.l.offset(Region::Input);
        self.mem[o..o + b.len()].copy_from_slice(&b);
        Ok(())
    }

    /// Run one step; returns what ran and whether the machine is done.
    pub fn step(&mut self) -> (StepInfo, bool) {
        let c = self.cx.l.offset(Region::Control);
        let g = |f: usize| rd_u32(&self.mem, c + f);
        let info = StepInfo {
            index: crate::semantics::mem::rd_u64(&self.mem, c + ctl::STEPS),
            phase: g(ctl::PHASE),
            layer: g(ctl::LAYER),
            chunk_start: g(ctl::CHUNK_START),
            chunk_len: g(ctl::CHUNK_LEN),
        };
        let done = step::step(&mut self.mem);
        (info, done)
    }

    /// Run a request to the end.
    pub fn run(&mut self, req: &Request) -> Result<RunOutput> {
        self.run_with(req, |_, _| {})
    }

    /// Run a request to the end, calling `on_step` at every step boundary with the memory.
    pub fn run_with(
        &mut self,
        req: &Request,
        mut on_step: impl FnMut(&StepInfo, &[u8]),
    ) -> Result<RunOutput> {
        self.load(req)?;
        loop {
            let (info, done) = self.step();
            on_step(&info, &self.mem);
            if done {
                break;
            }
        }
        let c = self.cx.l.offset(Region::Control);
        let steps = crate::semantics::mem::rd_u64(&self.mem, c + ctl::STEPS);
        let answer = self.answer();
        let text = String::from_utf8_lossy(&answer.text).into_owned();
        Ok(RunOutput {
            answer,
            text,
            steps,
        })
    }

    /// The answer currently in the output region.
    pub fn answer(&self) -> Answer {
        let o = self.cx.l.offset(Region::Output);
        decode_output(
            &self.mem[o..o + self.cx.l.size(Region::Output)],
            self.cx.d.ctx as usize,
        )
    }

    /// Teacher-forced greedy predictions: element `i` is the argmax of the logits after
    /// `tokens[..=i]`, computed with the machine's own embed / layer / head functions.
    pub fn teacher_forced_argmax(&mut self, tokens: &[u32]) -> Result<Vec<u32>> {
        self.teacher_forced(tokens, argmax)
    }

    /// Teacher-forced logits (i32 Q.12) after every prefix.
    pub fn teacher_forced_logits(&mut self, tokens: &[u32]) -> Result<Vec<Vec<i32>>> {
        self.teacher_forced(tokens, |lg, v| {
            (0..v)
                .map(|i| crate::semantics::mem::rd_i32(lg, 4 * i))
                .collect()
        })
    }

    fn teacher_forced<T>(
        &mut self,
        tokens: &[u32],
        mut f: impl FnMut(&[u8], usize) -> T,
    ) -> Result<Vec<T>> {
        Request::greedy(tokens.to_vec(), 1).validate(&self.cx.d)?;
        self.reset();
        let cx = self.cx;
        let tk = cx.l.offset(Region::Tokens);
        for (i, t) in tokens.iter().enumerate() {
            wr_u32(&mut self.mem, tk + 4 * i, *t);
        }
        let (lg, vocab) = (cx.l.offset(Region::Logits), cx.d.vocab as usize);
        let mut out = Vec::with_capacity(tokens.len());
        let mut start = 0;
        while start < tokens.len() {
            let len = (tokens.len() - start).min(cx.d.chunk as usize);
            step::embed(&mut self.mem, &cx, start, len);
            for li in 0..cx.d.n_layers as usize {
                step::layer(&mut self.mem, &cx, li, start, len);
            }
            for row in 0..len {
                step::head(&mut self.mem, &cx, row);
                out.push(f(&self.mem[lg..lg + 4 * vocab], vocab));
            }
            start += len;
        }
        self.reset();
        Ok(out)
    }
}
