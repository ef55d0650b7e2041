//! The driver: writes a request into a backend's memory, runs `step()` to the end and reads the
//! answer. The backend ([`Backend`]) decides how a step executes; the default is [`Native`],
//! exactly the `semantics` code the wasm program runs.

use crate::backend::{Backend, Native};
use crate::error::{Result, VmError};
use crate::image::ModelImage;
use crate::io::{Answer, Request, decode_output};
use crate::semantics::layout::{Dims, Region};
use crate::semantics::mem::{rd_u32, wr_u32};
use crate::semantics::sampler::argmax;
use crate::semantics::step::{self, Ctx, ctl, is_runnable_phase};

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

/// The integer engine over a backend (native by default).
pub struct Engine<B: Backend = Native> {
    backend: B,
    cx: Ctx,
}

impl<B: Backend> std::fmt::Debug for Engine<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("backend", &self.backend.name())
            .field("memory_bytes", &self.backend.memory().len())
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

impl Engine<Native> {
    /// A native machine loaded with the image.
    pub fn new(image: &ModelImage) -> Engine {
        Engine::with_backend(Native::new(image.initial_memory()))
    }
}

impl<B: Backend> Engine<B> {
    /// A driver over a backend whose memory holds a model's initial memory.
    pub fn with_backend(backend: B) -> Engine<B> {
        let cx = Ctx::read(backend.memory());
        Engine { backend, cx }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// The model dimensions.
    pub fn dims(&self) -> Dims {
        self.cx.d
    }

    /// The whole memory.
    pub fn memory(&self) -> &[u8] {
        self.backend.memory()
    }

    /// The whole memory, writable: for a party that edits a step boundary on purpose (the
    /// lying runs of the prover's attack tests and demo) or for tests.
    pub fn memory_mut(&mut self) -> &mut [u8] {
        self.backend.memory_mut()
    }

    /// Back to the initial memory (image loaded, everything else zero).
    pub fn reset(&mut self) {
        let mem = self.backend.memory_mut();
        for r in MUTABLE {
            let o = self.cx.l.offset(r);
            mem[o..o + self.cx.l.size(r)].fill(0);
        }
    }

    /// Reset and write a request into the input region (validated first).
    pub fn load(&mut self, req: &Request) -> Result<()> {
        req.validate(&self.cx.d)?;
        self.reset();
        let b = req.encode();
        let o = self.cx.l.offset(Region::Input);
        self.backend.memory_mut()[o..o + b.len()].copy_from_slice(&b);
        Ok(())
    }

    /// Reset and write raw input-region bytes, exactly as the chain derived them (the machine
    /// itself validates them: a malformed input finishes the run with an error status).
    /// Panics if `input` is larger than the Input region.
    pub fn load_input(&mut self, input: &[u8]) {
        self.reset();
        let o = self.cx.l.offset(Region::Input);
        assert!(
            input.len() <= self.cx.l.size(Region::Input),
            "input larger than its region"
        );
        self.backend.memory_mut()[o..o + input.len()].copy_from_slice(input);
    }

    /// What the next step will run (read from the control record).
    pub fn next_step(&self) -> StepInfo {
        let mem = self.backend.memory();
        let c = self.cx.l.offset(Region::Control);
        let g = |f: usize| rd_u32(mem, c + f);
        StepInfo {
            index: crate::semantics::mem::rd_u64(mem, c + ctl::STEPS),
            phase: g(ctl::PHASE),
            layer: g(ctl::LAYER),
            chunk_start: g(ctl::CHUNK_START),
            chunk_len: g(ctl::CHUNK_LEN),
        }
    }

    /// Run one step; returns what ran and whether the machine is done.
    /// A finished run has no next step (the canonical program traps): that is an error.
    pub fn step(&mut self) -> Result<(StepInfo, bool)> {
        let info = self.next_step();
        if !is_runnable_phase(info.phase) {
            return Err(VmError::RunFinished {
                step: info.index,
                phase: info.phase,
            });
        }
        let done = self.backend.step()?;
        Ok((info, done))
    }

    /// Run a request to the end.
    pub fn run(&mut self, req: &Request) -> Result<RunOutput> {
        self.run_with(req, |_, _| {})
    }

    /// Run a request to the end, calling `on_step` at every step boundary with the memory.
    /// The steps run on a worker of the kernels' thread pool ([`crate::pool`]).
    pub fn run_with(
        &mut self,
        req: &Request,
        mut on_step: impl FnMut(&StepInfo, &[u8]) + Send,
    ) -> Result<RunOutput> {
        self.load(req)?;
        crate::pool::on_worker(|| -> Result<()> {
            loop {
                let (info, done) = self.step()?;
                on_step(&info, self.backend.memory());
                if done {
                    return Ok(());
                }
            }
        })?;
        let c = self.cx.l.offset(Region::Control);
        let steps = crate::semantics::mem::rd_u64(self.backend.memory(), c + ctl::STEPS);
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
        let mem = self.backend.memory();
        let o = self.cx.l.offset(Region::Output);
        let c = self.cx.l.offset(Region::Control);
        let n_prompt = (rd_u32(mem, c + ctl::N_PROMPT) as usize).min(self.cx.d.ctx as usize);
        let t = self.cx.l.offset(Region::Tokens);
        decode_output(
            &mem[o..o + self.cx.l.size(Region::Output)],
            &mem[t + 4 * n_prompt..t + self.cx.l.size(Region::Tokens)],
        )
    }

    /// The answer's bytes as the oracle receives them (`header ‖ text`).
    pub fn output_prefix(&self) -> Vec<u8> {
        let o = self.cx.l.offset(Region::Output);
        crate::io::output_prefix(&self.backend.memory()[o..o + self.cx.l.size(Region::Output)])
            .to_vec()
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
        let mem = self.backend.memory_mut();
        for (i, t) in tokens.iter().enumerate() {
            wr_u32(mem, tk + 4 * i, *t);
        }
        let (lg, vocab) = (cx.l.offset(Region::Logits), cx.d.vocab as usize);
        let mut out = Vec::with_capacity(tokens.len());
        let mut start = 0;
        while start < tokens.len() {
            let len = (tokens.len() - start).min(cx.d.chunk as usize);
            step::embed(mem, &cx, start, len);
            for li in 0..cx.d.n_layers as usize {
                step::layer(mem, &cx, li, start, len);
            }
            for row in 0..len {
                step::head(mem, &cx, row);
                out.push(f(&mem[lg..lg + 4 * vocab], vocab));
            }
            start += len;
        }
        self.reset();
        Ok(out)
    }
}
