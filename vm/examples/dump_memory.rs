//! Write the machine memory of a greedy chat request before the first step and after the last
//! (native engine), for cross-checking another implementation of the same step function.
//!
//! `cargo run --release -p veritrace-vm --example dump_memory -- MODEL MESSAGE MAX_TOKENS OUT_DIR`

use veritrace_vm::image::ImportOptions;
use veritrace_vm::tokenizer::{Tokenizer, chatml};
use veritrace_vm::{Engine, ModelImage, Request};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let (path, msg, max, out) = (
        &a[1],
        &a[2],
        a[3].parse::<u32>()?,
        std::path::Path::new(&a[4]),
    );
    let img = ModelImage::from_gguf_file(std::path::Path::new(path), &ImportOptions::default())?;
    let tk = Tokenizer::from_gguf_file(std::path::Path::new(path))?;
    let req = Request::greedy(tk.encode(&chatml(msg))?, max);
    let mut e = Engine::new(&img);
    e.load(&req)?;
    std::fs::write(out.join("initial.bin"), e.memory())?;
    let r = e.run(&req)?;
    std::fs::write(out.join("final.bin"), e.memory())?;
    println!("{} steps: {:?}", r.steps, r.text);
    Ok(())
}
