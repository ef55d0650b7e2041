//! What an executor posts for a request: its run of the machine on the request's input, the
//! layer trace of that run, the answer bytes and the Merkle paths the oracle checks on `submit`
//! (the input region inside the image root, the output region inside the final memory root).

use veritrace_machine::MemoryTree;
use veritrace_vm::semantics::layout::Region;
use veritrace_vm::{Backend, Engine, ModelImage, RunOutput};

use crate::model_machine::ModelMachine;
use crate::recorder::record_loaded_edited;
use veritrace_protocol::Hash;
use veritrace_protocol::trace::LayerTrace;

/// A model as an executor serves it: its machine and the siblings of the (empty) input region
/// in the image root, computed once (a full memory root costs seconds).
#[derive(Debug, Clone)]
pub struct ServedModel {
    /// The image.
    pub image: ModelImage,
    /// The canonical program for it.
    pub machine: ModelMachine,
    input_siblings: Vec<Hash>,
    image_root: Hash,
}

/// One executed request, ready to submit.
#[derive(Debug)]
pub struct Submission {
    /// The run's answer.
    pub run: RunOutput,
    /// The layer trace over the step-boundary memory roots `m_0..m_N`.
    pub trace: LayerTrace,
    /// The memory root of the final state (`m_N`, the trace's last leaf).
    pub final_memory_root: Hash,
    /// The used prefix of the output region (`header ‖ text`).
    pub output: Vec<u8>,
    /// Siblings of the input region inside the image root.
    pub input_siblings: Vec<Hash>,
    /// Siblings of the output region inside the final memory root.
    pub output_siblings: Vec<Hash>,
}

impl ServedModel {
    /// Prepares `image` for serving.
    pub fn new(image: ModelImage, machine: ModelMachine) -> Self {
        let mut tree = MemoryTree::new(image.initial_memory());
        let l = &image.layout;
        let input_siblings = tree.region_siblings(
            l.offset(Region::Input),
            l.log2s[Region::Input as usize] as u8,
        );
        let image_root = tree.root();
        Self {
            image,
            machine,
            input_siblings,
            image_root,
        }
    }

    /// The registered image root (memory root of the initial memory).
    pub fn image_root(&self) -> Hash {
        self.image_root
    }

    /// Runs the machine on `input` (the input-region bytes the oracle derived: the request
    /// body with the seed in its slot) on `engine`, recording the layer trace.
    pub fn execute<B: Backend>(
        &self,
        engine: &mut Engine<B>,
        input: &[u8],
    ) -> anyhow::Result<Submission> {
        self.execute_edited(engine, input, |_, _, _| Vec::new())
    }

    /// [`ServedModel::execute`] with `edit` applied at every step boundary (see
    /// [`record_loaded_edited`]): the submission of a run that departs from the honest one,
    /// whose output, final memory root and siblings are those of the edited memory.
    pub fn execute_edited<B: Backend>(
        &self,
        engine: &mut Engine<B>,
        input: &[u8],
        edit: impl FnMut(u64, bool, &mut [u8]) -> Vec<(usize, usize)> + Send,
    ) -> anyhow::Result<Submission> {
        engine.load_input(input);
        let (run, mut recorder) = record_loaded_edited(engine, &self.machine, edit, |_, _| {})?;
        let l = &self.image.layout;
        let output_siblings = recorder.region_siblings(
            l.offset(Region::Output),
            l.log2s[Region::Output as usize] as u8,
        );
        let final_memory_root = recorder.memory_root();
        Ok(Submission {
            run,
            output: engine.output_prefix(),
            trace: recorder.finish()?,
            final_memory_root,
            input_siblings: self.input_siblings.clone(),
            output_siblings,
        })
    }
}
