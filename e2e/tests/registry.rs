//! The registry on a real anvil chain: deploy with alloy, register, read back, refuse repeats;
//! and the harness stops anvil even when a test panics.

use std::{net::TcpStream, time::Duration};

use alloy::primitives::Address;
use alloy::primitives::keccak256;
use alloy::providers::Provider;
use veritrace_contracts::{DisputeGame, ModelRegistry, ProtocolParams, deploy_all, deploy_prover};
use veritrace_devnet::{LocalChain, paths};
use veritrace_tracer::registration::registered_model;

fn spec(name: &str) -> ModelRegistry::ModelSpec {
    ModelRegistry::ModelSpec {
        programRoot: keccak256(b"program"),
        imageRoot: keccak256(b"image"),
        initialGlobalsHash: keccak256(b"globals"),
        tokenizerHash: keccak256(b"tokenizer"),
        layout: ModelRegistry::Layout {
            memoryLog2: 24,
            inputOffset: 1 << 20,
            inputLog2: 12,
            outputOffset: 1 << 21,
            outputLog2: 13,
        },
        limits: ModelRegistry::Limits {
            maxContextTokens: 512,
            maxLayerSteps: 4096,
            maxStepInstructions: 1 << 32,
        },
        name: name.into(),
    }
}

#[tokio::test]
async fn deploy_register_read_back_and_refuse_duplicates() {
    let chain = LocalChain::start().expect("anvil starts");
    let deployment = deploy_all(
        chain.provider(),
        chain.account(0),
        Address::ZERO,
        ProtocolParams::default(),
    )
    .await
    .expect("deploys");
    let registry = ModelRegistry::new(deployment.registry, chain.provider());

    let entry = spec("tiny test model");
    let id = registry.modelIdOf(entry.clone()).call().await.unwrap();
    let receipt = registry
        .register(entry.clone())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status(), "register reverted");
    let event = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<ModelRegistry::ModelRegistered>().ok())
        .expect("ModelRegistered emitted");
    assert_eq!(event.inner.data.id, id);
    assert_eq!(event.inner.data.registrant, chain.account(0));

    let stored = registry.getModel(id).call().await.unwrap();
    assert_eq!(stored.spec, entry);
    assert_eq!(stored.registrant, chain.account(0));
    assert!(stored.registeredAt > 0);
    assert_eq!(
        registry.modelCount().call().await.unwrap(),
        alloy::primitives::U256::from(1)
    );

    // The same content under another name, from another account, is refused with the custom error.
    let other = ModelRegistry::new(deployment.registry, chain.signer_provider(1));
    let err = other
        .register(spec("renamed"))
        .call()
        .await
        .expect_err("duplicate must revert");
    let decoded = err
        .as_decoded_interface_error::<ModelRegistry::ModelRegistryErrors>()
        .expect("reverts with a ModelRegistry custom error");
    assert_eq!(
        decoded,
        ModelRegistry::ModelRegistryErrors::ModelAlreadyRegistered(
            ModelRegistry::ModelAlreadyRegistered { id }
        )
    );

    // A malformed entry is refused with its specific error.
    let mut bad = spec("misaligned");
    bad.layout.outputOffset = 32;
    let err = registry
        .register(bad)
        .call()
        .await
        .expect_err("misaligned region must revert");
    assert!(matches!(
        err.as_decoded_interface_error::<ModelRegistry::ModelRegistryErrors>(),
        Some(ModelRegistry::ModelRegistryErrors::RegionMisaligned(_))
    ));

    // An unknown id is an error, not a zeroed struct.
    let err = registry
        .getModel(keccak256(b"nothing"))
        .call()
        .await
        .expect_err("unknown id");
    assert!(matches!(
        err.as_decoded_interface_error::<ModelRegistry::ModelRegistryErrors>(),
        Some(ModelRegistry::ModelRegistryErrors::UnknownModel(_))
    ));
}

#[tokio::test]
async fn the_real_model_registers_with_its_real_roots_and_the_game_uses_the_real_prover() {
    let model = registered_model(&paths::smollm2_gguf(), "SmolLM2-135M-Instruct").unwrap();
    let spec = &model.spec;
    // The roots are what the machine computes, not placeholders.
    let (machine, image) = (&model.served.machine, &model.served.image);
    assert_eq!(spec.programRoot.0, machine.program_root());
    assert_eq!(
        spec.initialGlobalsHash.0,
        machine.program().initial_globals_hash()
    );
    // Recomputed from scratch, independently of the served model's tree.
    assert_eq!(spec.imageRoot.0, machine.image_root(image));
    assert_eq!(spec.layout.memoryLog2, 28);

    let chain = LocalChain::start().expect("anvil starts");
    let prover = deploy_prover(chain.provider())
        .await
        .expect("prover deploys");
    assert!(
        !chain
            .provider()
            .get_code_at(prover)
            .await
            .unwrap()
            .is_empty()
    );
    let deployment = deploy_all(
        chain.provider(),
        chain.account(0),
        prover,
        ProtocolParams::default(),
    )
    .await
    .expect("deploys");
    let game = DisputeGame::new(deployment.game, chain.provider());
    assert_eq!(game.prover().call().await.unwrap(), prover);

    let registry = ModelRegistry::new(deployment.registry, chain.provider());
    let receipt = registry
        .register(spec.clone())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status(), "the real entry is accepted");
    let id = registry.modelIdOf(spec.clone()).call().await.unwrap();
    assert_eq!(registry.getModel(id).call().await.unwrap().spec, *spec);
}

#[test]
fn anvil_stops_when_the_owner_panics() {
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let outcome = std::panic::catch_unwind(move || {
        let chain = LocalChain::start().expect("anvil starts");
        TcpStream::connect(("127.0.0.1", chain.port())).expect("anvil listens while alive");
        port_tx.send(chain.port()).unwrap();
        panic!("a failing test");
    });
    assert!(outcome.is_err(), "the closure panicked");
    let port = port_rx.recv().unwrap();
    // Dropping the chain during unwinding shut anvil down and waited for it.
    let connect = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    );
    assert!(
        connect.is_err(),
        "anvil still listens on port {port} after the panic"
    );
}
