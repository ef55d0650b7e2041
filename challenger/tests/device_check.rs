//! The device check itself: it passes where the engines agree (the candle backend on the CPU,
//! on a tiny random model) and it names the step and region where a backend departs from the
//! reference, including a write the step-by-step comparison cannot see (the image region).

use veritrace_challenger::device_check::{Plan, Shape, check_shape, lockstep};
use veritrace_challenger::verify::DeviceKind;
use veritrace_tracer::model_machine::ModelMachine;
use veritrace_vm::image::ImportOptions;
use veritrace_vm::native::FastNative;
use veritrace_vm::semantics::layout::Region;
use veritrace_vm::{Backend, Engine, ModelImage, Native, Request};

fn plan() -> Plan {
    Plan {
        shape: Shape::Tiny,
        device: DeviceKind::Cpu,
        requests: 2,
        prompt_tokens: 9,
        max_tokens: 12,
        verify_tokens: 40,
        batch: 3,
    }
}

#[test]
fn the_check_passes_where_the_engines_agree() {
    let mut lines = Vec::new();
    let report = check_shape(&plan(), |l| lines.push(l.to_string())).expect("the check runs");
    assert!(report.all_identical(), "{report:#?}");
    assert_eq!(report.lockstep.len(), 2);
    assert!(report.lockstep[1].sampled && !report.lockstep[0].sampled);
    for r in &report.lockstep {
        assert!(r.steps > 10 && r.generated > 0, "{r:?}");
        assert_eq!(r.trace_root.len(), 64);
    }
    let v = report.verify.as_ref().expect("a verification run");
    assert!(v.identical && v.generated > 0);
    let b = report.batch.as_ref().expect("a batch run");
    assert_eq!((b.engines, b.identical), (3, 3));
    assert!(lines.len() >= 5, "{lines:?}");
}

/// A backend that runs the scalar engine and then, after step `at`, flips one byte at `offset`.
struct Flip {
    inner: Native,
    steps: u64,
    at: u64,
    offset: usize,
}

impl Backend for Flip {
    fn name(&self) -> &'static str {
        "flip"
    }
    fn memory(&self) -> &[u8] {
        self.inner.memory()
    }
    fn memory_mut(&mut self) -> &mut [u8] {
        self.inner.memory_mut()
    }
    fn step(&mut self) -> veritrace_vm::error::Result<bool> {
        let done = self.inner.step()?;
        if self.steps == self.at {
            self.inner.memory_mut()[self.offset] ^= 0x10;
        }
        self.steps += 1;
        Ok(done)
    }
}

fn caught(
    image: &ModelImage,
    region: Region,
    at: u64,
) -> veritrace_challenger::device_check::LockstepReport {
    let machine = ModelMachine::new(image).expect("machine");
    let offset = image.layout.offset(region) + 3;
    let mut reference = Engine::with_backend(FastNative::new(image.initial_memory()));
    let mut subject = Engine::with_backend(Flip {
        inner: Native::new(image.initial_memory()),
        steps: 0,
        at,
        offset,
    });
    let req = Request::greedy(vec![5, 6, 7, 8], 6);
    lockstep(image, &machine, &mut reference, &mut subject, &req).expect("lockstep runs")
}

#[test]
fn the_check_names_where_a_backend_departs() {
    let image = Shape::Tiny
        .spec()
        .import(&ImportOptions { ctx: 64, chunk: 16 })
        .expect("tiny model");
    // Hidden, after step 4: caught at that very step.
    let r = caught(&image, Region::Hidden, 4);
    let d = r.difference.expect("a difference");
    assert_eq!((d.after_step, d.what.as_str()), (Some(4), "Hidden"));
    assert_eq!(d.offset, Some(image.layout.offset(Region::Hidden) + 3));
    // The image is not compared after every step (no step writes it), but at the end.
    let r = caught(&image, Region::Image, 2);
    let d = r.difference.expect("a difference");
    assert_eq!((d.after_step, d.what.as_str()), (None, "Image"));
}
