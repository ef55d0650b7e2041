//! The labelled keccak256 hashes of the spec ("Value:", "Frame:", "Globals:", "Machine:",
//! "Instruction:", "Program:") and the plain Merkle node hash. Uses `keccak-asm` (the assembly Keccak of alloy and reth).

use keccak_asm::{Digest, Keccak256};

/// A 32-byte hash.
pub type Hash = [u8; 32];

/// The zero hash: the empty value stack, the empty frame stack, a zero leaf.
pub const ZERO: Hash = [0; 32];

/// keccak256 of the concatenation of `parts`.
pub fn keccak(parts: &[&[u8]]) -> Hash {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A Merkle node: `keccak256(left ‖ right)`.
pub fn node(left: &[u8], right: &[u8]) -> Hash {
    keccak(&[left, right])
}

/// The value-stack chain after pushing `v` onto a stack whose chain is `prev`.
pub fn value_push(prev: &Hash, v: u64) -> Hash {
    keccak(&[b"Value:", prev, &v.to_be_bytes()])
}

/// The frame-stack chain after pushing a saved frame onto `prev`.
pub fn frame_push(prev: &Hash, return_pc: u32, locals_depth: u8, locals_root: &Hash) -> Hash {
    keccak(&[
        b"Frame:",
        prev,
        &return_pc.to_be_bytes(),
        &[locals_depth],
        locals_root,
    ])
}

/// `keccak256("Globals:" ‖ uint64 g0 ‖ uint64 g1 ‖ ...)`.
pub fn globals_hash(globals: &[u64]) -> Hash {
    let mut h = Keccak256::new();
    h.update(b"Globals:");
    for g in globals {
        h.update(g.to_be_bytes());
    }
    h.finalize().into()
}

/// The instruction leaf of the code tree: `keccak256("Instruction:" ‖ uint16 ‖ uint64)`.
pub fn instruction_leaf(opcode: u16, imm: u64) -> Hash {
    keccak(&[b"Instruction:", &opcode.to_be_bytes(), &imm.to_be_bytes()])
}

/// The program root: `keccak256("Program:" ‖ uint8 depth ‖ codeTreeRoot)`.
pub fn program_root(depth: u8, code_root: &Hash) -> Hash {
    keccak(&[b"Program:", &[depth], code_root])
}

/// The fields of a machine state that its hash covers, in hash order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StateFields {
    /// 0 running, 1 trapped, 2 step ended.
    pub status: u8,
    /// Index of the next instruction.
    pub pc: u32,
    /// Value-stack chain hash.
    pub value_stack: Hash,
    /// Saved-frames chain hash.
    pub frames: Hash,
    /// The current frame's return address.
    pub return_pc: u32,
    /// Depth of the current frame's locals tree.
    pub locals_depth: u8,
    /// Root of the current frame's locals tree.
    pub locals_root: Hash,
    /// Hash of all globals.
    pub globals_hash: Hash,
    /// Root of the memory tree.
    pub memory_root: Hash,
}

/// Machine status: running.
pub const STATUS_RUNNING: u8 = 0;
/// Machine status: trapped (final).
pub const STATUS_TRAPPED: u8 = 1;
/// Machine status: `StepEnd` executed, the layer step is over (final within the step: the
/// machine never leaves it, so an instruction count past a step's end cannot run on into the
/// next step; the host starts the next step from the memory alone).
pub const STATUS_STEP_END: u8 = 2;
/// The pc of `StepEnd`, where a step's end state stands.
pub const STEP_END_PC: u32 = 1;

impl StateFields {
    /// The machine hash: `keccak256("Machine:" ‖ fields)`, packed, big-endian.
    pub fn hash(&self) -> Hash {
        keccak(&[
            b"Machine:",
            &[self.status],
            &self.pc.to_be_bytes(),
            &self.value_stack,
            &self.frames,
            &self.return_pc.to_be_bytes(),
            &[self.locals_depth],
            &self.locals_root,
            &self.globals_hash,
            &self.memory_root,
        ])
    }

    /// The step-boundary state for globals hash `g0` and memory root `m`: where a layer step
    /// starts (status 0, pc 0, empty stacks).
    pub fn boundary(g0: Hash, m: Hash) -> Self {
        Self {
            globals_hash: g0,
            memory_root: m,
            ..Self::default()
        }
    }

    /// The end state of a layer step that leaves memory root `m`: the boundary state with
    /// status 2 at `StepEnd`'s pc. Level 2 of a dispute runs from `boundary(g0, m_{j-1})` to
    /// `step_end(g0, m_j)`.
    pub fn step_end(g0: Hash, m: Hash) -> Self {
        Self {
            status: STATUS_STEP_END,
            pc: STEP_END_PC,
            ..Self::boundary(g0, m)
        }
    }
}

/// `zero_hashes(n)[l]` is the root of a depth-`l` tree of zero leaves, for `l` in `0..=n`.
pub fn zero_hashes(n: usize) -> Vec<Hash> {
    let mut z = vec![ZERO];
    for l in 0..n {
        let next = node(&z[l], &z[l]);
        z.push(next);
    }
    z
}

/// The root of a depth-`depth` tree holding `leaves` at its start and zeros after them
/// (`Merkle.leavesRoot`): only the given leaves are hashed, the zero subtrees come from
/// [`zero_hashes`]. The caller guarantees `leaves.len() <= 2^depth`.
pub fn leaves_root(mut leaves: Vec<Hash>, depth: usize) -> Hash {
    let mut zero = ZERO;
    for _ in 0..depth {
        leaves = leaves
            .chunks(2)
            .map(|pair| node(&pair[0], pair.get(1).unwrap_or(&zero)))
            .collect();
        zero = node(&zero, &zero);
    }
    leaves.first().copied().unwrap_or(zero)
}

/// The root reached from a 32-byte `leaf` at `index` through `siblings` (leaf level first).
pub fn root_from_path(leaf: &Hash, index: u64, siblings: &[Hash]) -> Hash {
    let mut h = *leaf;
    for (level, s) in siblings.iter().enumerate() {
        h = if (index >> level) & 1 == 0 {
            node(&h, s)
        } else {
            node(s, &h)
        };
    }
    h
}

/// The leaf of a local or operand value: `bytes32(uint256(v))`.
pub fn u64_leaf(v: u64) -> Hash {
    let mut leaf = ZERO;
    leaf[24..].copy_from_slice(&v.to_be_bytes());
    leaf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak256_known_answers() {
        let empty = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";
        assert_eq!(hex::encode(keccak(&[])), empty);
        let abc = "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45";
        assert_eq!(hex::encode(keccak(&[b"a", b"bc"])), abc);
    }

    #[test]
    fn leaves_root_pads_with_zero_subtrees() {
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let z = zero_hashes(2);
        assert_eq!(leaves_root(vec![], 2), z[2]);
        assert_eq!(leaves_root(vec![a], 0), a);
        assert_eq!(
            leaves_root(vec![a, b, c], 2),
            node(&node(&a, &b), &node(&c, &ZERO))
        );
        assert_eq!(leaves_root(vec![a], 2), node(&node(&a, &ZERO), &z[1]));
    }

    #[test]
    fn root_from_path_orders_children_by_index_bits() {
        let (a, b, c, d) = ([1u8; 32], [2u8; 32], [3u8; 32], [4u8; 32]);
        let root = node(&node(&a, &b), &node(&c, &d));
        assert_eq!(root_from_path(&c, 2, &[d, node(&a, &b)]), root);
        assert_eq!(root_from_path(&b, 1, &[a, node(&c, &d)]), root);
    }
}
