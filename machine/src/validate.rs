//! Module-level validation: the sections, imports, memory, globals, data and the `step` export of
//! an accepted module (spec: "Accepted modules"). Function bodies are checked by the flattener.

use wasmparser::{
    DataKind, ExternalKind, FunctionBody, KnownCustom, Name, Operator, Parser, Payload, ValType,
    Validator,
};

use crate::error::ValidationError;

/// One active data segment, applied when the image is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSegment {
    /// Memory offset of the first byte.
    pub offset: u32,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A function signature within the subset: only `i32`/`i64`, at most one result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Signature {
    pub(crate) params: u32,
    pub(crate) results: u32,
}

/// A module that passed the module-level checks, with its function bodies still to flatten.
#[derive(Debug)]
pub struct Module<'a> {
    pub(crate) signatures: Vec<Signature>,
    pub(crate) bodies: Vec<FunctionBody<'a>>,
    /// The globals' initial values, in index order.
    pub globals: Vec<u64>,
    /// `log2` of the memory size in bytes.
    pub memory_log2: u8,
    /// The active data segments.
    pub data: Vec<DataSegment>,
    /// Index of the exported `step` function.
    pub step: u32,
}

/// The page count of a memory whose minimum and maximum are both `2^memoryLog2 / 65536`.
const PAGE_LOG2: u8 = 16;
/// Memory sizes the registry accepts: `16 <= memoryLog2 <= 32`.
const MAX_MEMORY_LOG2: u8 = 32;
/// Globals are listed in global proofs with a `uint8` count.
const MAX_GLOBALS: usize = 255;
/// The only mutable global allowed.
const STACK_POINTER: &str = "__stack_pointer";

fn is_integer(t: &ValType) -> bool {
    matches!(t, ValType::I32 | ValType::I64)
}

fn section(section: &'static str, reason: impl Into<String>) -> ValidationError {
    ValidationError::Section {
        section,
        reason: reason.into(),
    }
}

/// Evaluates a constant expression that must be a single `i32.const` or `i64.const`.
fn const_value(expr: &wasmparser::ConstExpr<'_>) -> Option<u64> {
    let mut ops = expr.get_operators_reader();
    let value = match ops.read().ok()? {
        Operator::I32Const { value } => u64::from(value as u32),
        Operator::I64Const { value } => value as u64,
        _ => return None,
    };
    matches!(ops.read().ok()?, Operator::End).then_some(value)
}

/// Checks everything outside the function bodies and collects what the flattener needs.
pub fn validate(wasm: &[u8]) -> Result<Module<'_>, ValidationError> {
    Validator::new().validate_all(wasm)?;
    let mut types = Vec::new();
    let mut func_types = Vec::new();
    let mut globals = Vec::new();
    let mut mutable_globals = Vec::new();
    let mut memory_log2 = None;
    let mut data = Vec::new();
    let mut step = None;
    let mut bodies = Vec::new();
    let mut global_names = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types() {
                    types.push(ty?);
                }
            }
            Payload::ImportSection(r) => {
                if let Some(import) = r.into_imports().next() {
                    let import = import?;
                    return Err(ValidationError::Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                    });
                }
            }
            Payload::FunctionSection(r) => {
                for f in r {
                    func_types.push(f?);
                }
            }
            Payload::TableSection(r) if r.count() > 0 => {
                return Err(section(
                    "table",
                    "tables are not supported (no call_indirect)",
                ));
            }
            Payload::MemorySection(r) => {
                for m in r {
                    let m = m?;
                    if memory_log2.is_some() {
                        return Err(ValidationError::Memory("more than one memory".into()));
                    }
                    memory_log2 = Some(memory_size(&m)?);
                }
            }
            Payload::TagSection(r) if r.count() > 0 => {
                return Err(section("tag", "exceptions are not supported"));
            }
            Payload::GlobalSection(r) => {
                for (index, g) in r.into_iter().enumerate() {
                    let g = g?;
                    let index = index as u32;
                    if !is_integer(&g.ty.content_type) {
                        let reason = format!("type {} is not i32/i64", g.ty.content_type);
                        return Err(ValidationError::Global { index, reason });
                    }
                    let Some(v) = const_value(&g.init_expr) else {
                        let reason = "initializer is not a constant".to_string();
                        return Err(ValidationError::Global { index, reason });
                    };
                    if g.ty.mutable {
                        mutable_globals.push(index);
                    }
                    globals.push(v);
                }
            }
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e?;
                    if e.name == "step" {
                        if e.kind != ExternalKind::Func {
                            return Err(ValidationError::Step("is not a function".into()));
                        }
                        step = Some(e.index);
                    }
                }
            }
            Payload::StartSection { .. } => {
                return Err(section("start", "no start function is allowed"));
            }
            Payload::ElementSection(r) if r.count() > 0 => {
                return Err(section("element", "tables are not supported"));
            }
            Payload::DataSection(r) => {
                for (index, d) in r.into_iter().enumerate() {
                    let d = d?;
                    let index = index as u32;
                    let DataKind::Active {
                        memory_index: 0,
                        offset_expr,
                    } = d.kind
                    else {
                        let reason = "only active segments of memory 0 are allowed".to_string();
                        return Err(ValidationError::Data { index, reason });
                    };
                    let Some(offset) = const_value(&offset_expr) else {
                        let reason = "offset is not an i32.const".to_string();
                        return Err(ValidationError::Data { index, reason });
                    };
                    let end = offset + d.data.len() as u64;
                    if memory_log2.is_none_or(|l| end > 1u64 << l) {
                        let reason = format!("bytes {offset}..{end} are out of bounds");
                        return Err(ValidationError::Data { index, reason });
                    }
                    data.push(DataSegment {
                        offset: offset as u32,
                        bytes: d.data.to_vec(),
                    });
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body),
            Payload::CustomSection(c) => {
                if let KnownCustom::Name(names) = c.as_known() {
                    for n in names.into_iter().flatten() {
                        if let Name::Global(map) = n {
                            for naming in map.into_iter().flatten() {
                                global_names.push((naming.index, naming.name.to_string()));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let memory_log2 = memory_log2.ok_or(ValidationError::Memory("no memory".into()))?;
    check_mutable_globals(&mutable_globals, &global_names)?;
    if globals.len() > MAX_GLOBALS {
        let reason = format!("more than {MAX_GLOBALS} globals");
        return Err(ValidationError::Global {
            index: MAX_GLOBALS as u32,
            reason,
        });
    }
    let signatures = signatures(&types, &func_types)?;
    let step = step.ok_or(ValidationError::Step("not exported".into()))?;
    if signatures[step as usize]
        != (Signature {
            params: 0,
            results: 0,
        })
    {
        return Err(ValidationError::Step("type is not [] -> []".into()));
    }
    Ok(Module {
        signatures,
        bodies,
        globals,
        memory_log2,
        data,
        step,
    })
}

/// The memory's `log2` size, if its minimum and maximum are equal, a power of two of pages.
fn memory_size(m: &wasmparser::MemoryType) -> Result<u8, ValidationError> {
    if m.memory64 || m.shared {
        return Err(ValidationError::Memory(
            "64-bit and shared memories are refused".into(),
        ));
    }
    if m.maximum != Some(m.initial) {
        return Err(ValidationError::Memory(format!(
            "minimum {} and maximum {:?} pages must be equal",
            m.initial, m.maximum
        )));
    }
    let pages = m.initial;
    let log2 = pages.checked_ilog2().map(|l| l as u8 + PAGE_LOG2);
    match log2 {
        Some(l) if pages.is_power_of_two() && l <= MAX_MEMORY_LOG2 => Ok(l),
        _ => Err(ValidationError::Memory(format!(
            "{pages} pages is not 2^memoryLog2 / 65536 with 16 <= memoryLog2 <= 32"
        ))),
    }
}

/// At most one mutable global, and if the name section names it, it is `__stack_pointer`.
fn check_mutable_globals(mutable: &[u32], names: &[(u32, String)]) -> Result<(), ValidationError> {
    if let [_, second, ..] = mutable {
        let reason = "a second mutable global (only __stack_pointer may be mutable)".to_string();
        return Err(ValidationError::Global {
            index: *second,
            reason,
        });
    }
    for &index in mutable {
        if let Some((_, name)) = names.iter().find(|(i, _)| *i == index)
            && name != STACK_POINTER
        {
            let reason = format!("mutable global named {name:?}, not {STACK_POINTER}");
            return Err(ValidationError::Global { index, reason });
        }
    }
    Ok(())
}

/// The signature of every function, refusing non-integer values and multiple results.
fn signatures(
    types: &[wasmparser::FuncType],
    func_types: &[u32],
) -> Result<Vec<Signature>, ValidationError> {
    func_types
        .iter()
        .enumerate()
        .map(|(function, &ty)| {
            let function = function as u32;
            let ty = &types[ty as usize];
            if let Some(t) = ty
                .params()
                .iter()
                .chain(ty.results())
                .find(|t| !is_integer(t))
            {
                let reason = format!("uses {t}, only i32/i64 are allowed");
                return Err(ValidationError::Signature { function, reason });
            }
            if ty.results().len() > 1 {
                let reason = "returns several values".to_string();
                return Err(ValidationError::Signature { function, reason });
            }
            Ok(Signature {
                params: ty.params().len() as u32,
                results: ty.results().len() as u32,
            })
        })
        .collect()
}
