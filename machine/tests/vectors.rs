//! The Solidity step vectors: regenerated from the test programs and compared with the files in
//! `solidity/test/vectors/` (set `VERITRACE_WRITE_VECTORS=1` to rewrite them); every vector in
//! the files is checked by the Rust proof checker.

mod common;

use std::path::PathBuf;

use veritrace_machine::opcode::{self as op, BranchImm, CallImm, Instruction};
use veritrace_machine::vectors::VectorSet;
use veritrace_machine::{Program, verify_step};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../solidity/test/vectors")
}

fn decode(v: &serde_json::Value, key: &str) -> Vec<u8> {
    let s = v[key].as_str().unwrap_or_else(|| panic!("{key} missing"));
    hex::decode(s.strip_prefix("0x").expect("0x prefix")).expect("hex")
}

#[test]
fn vector_files_are_up_to_date_and_verify() {
    let mut set = VectorSet::new(3);
    for (name, wat, steps) in common::programs() {
        set.record(name, &common::program(&wat), steps);
    }
    // A TableEntry is never a jump target of flattened code: execute one from hand-made code.
    let entry = BranchImm {
        target: 1,
        keep: 0,
        drop: 0,
    }
    .pack();
    let code = vec![
        Instruction::new(
            op::CALL,
            CallImm {
                target: 2,
                params: 0,
                depth: 0,
            }
            .pack(),
        ),
        Instruction::new(op::STEP_END, 0),
        Instruction::new(op::JUMP, 4),
        Instruction::new(op::BRANCH_TABLE, 0),
        Instruction::new(op::TABLE_ENTRY, entry),
    ];
    set.record("table_entry", &Program::from_flat_code(code, vec![], 16), 1);
    let write = std::env::var_os("VERITRACE_WRITE_VECTORS").is_some();
    if write {
        std::fs::create_dir_all(dir()).expect("create the vector directory");
    }
    let mut total = 0;
    for (class, contents) in set.files() {
        let path = dir().join(format!("{class}.json"));
        if write {
            std::fs::write(&path, &contents).expect("write vectors");
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with VERITRACE_WRITE_VECTORS=1)",
                path.display()
            )
        });
        assert!(
            on_disk == contents,
            "{} is stale: run with VERITRACE_WRITE_VECTORS=1",
            path.display()
        );
        assert!(contents.len() < 1_000_000, "{class}.json is too large");
        let vectors: Vec<serde_json::Value> = serde_json::from_str(&on_disk).expect("json");
        assert!(!vectors.is_empty(), "{class}.json is empty");
        for v in &vectors {
            let root: [u8; 32] = decode(v, "programRoot").try_into().expect("32 bytes");
            let log2 = v["memoryLog2"].as_u64().expect("memoryLog2") as u8;
            let (pre, post) =
                verify_step(root, log2, &decode(v, "proof")).expect("vector verifies");
            assert_eq!(pre.to_vec(), decode(v, "preHash"), "{}", v["name"]);
            assert_eq!(post.to_vec(), decode(v, "postHash"), "{}", v["name"]);
        }
        eprintln!(
            "{class}.json: {} vectors, {} bytes",
            vectors.len(),
            contents.len()
        );
        total += vectors.len();
    }
    assert!(total > 100);
}
