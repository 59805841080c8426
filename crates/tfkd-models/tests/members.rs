//! A fused array of members computes what its members compute alone: the same logits in train and eval
//! mode (dropout masks included), the same gradients, and member checkpoints that single models load.
//!
//! The comparison is exact: with libtorch's oneDNN kernels switched off ([`tfkd_models::kernels`]) a grouped
//! convolution runs each group as the single model's convolution, so fused and alone compute the same bits
//! in f32 — a far stronger check than a tolerance, which a deep, freshly initialised network would need to
//! be ~1e-3 (it amplifies oneDNN's different summation order for grouped convolutions in some gradients).
//! The trainer's tests check f32 training trajectories of arrays against single runs with oneDNN on.

use tch::{nn, Device, Kind, Tensor};
use tfkd_models::{member, with_dropout_keys, Arch, ModelConfig, Network};

const SEEDS: [i64; 3] = [11, 12, 13];

/// libtorch's random generator is global to the process: tests that seed it take turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
const KEYS: [u64; 3] = [101, 202, 303];

/// Width 1/8 and 16×16 images keep the passes through the whole zoo short (libtorch's own convolutions are
/// slow); every layer type is still exercised.
fn small() -> ModelConfig {
    ModelConfig { width: 0.125, ..ModelConfig::new(10) }
}

fn single(arch: Arch, seed: i64) -> (nn::VarStore, Network) {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::build(&vs, arch, small()).unwrap();
    member::set_weights(&vs, 0, 1, &member::init(arch, small(), seed).unwrap()).unwrap();
    (vs, net)
}

fn fused(arch: Arch) -> (nn::VarStore, Network) {
    let m = SEEDS.len() as i64;
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::build(&vs, arch, small().with_members(m)).unwrap();
    for (a, &seed) in SEEDS.iter().enumerate() {
        member::set_weights(&vs, a as i64, m, &member::init(arch, small(), seed).unwrap()).unwrap();
    }
    (vs, net)
}

fn inputs() -> Vec<Tensor> {
    (0..SEEDS.len()).map(|a| Tensor::randn([3, 3, 16, 16], (Kind::Float, Device::Cpu)) * (1.0 + a as f64)).collect()
}

/// ‖a − b‖ / ‖b‖ (2-norms): how far a whole tensor is from another, insensitive to single tiny entries.
fn rel_norm(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    (&a - &b).norm().double_value(&[]) / b.norm().double_value(&[]).max(1e-12)
}

fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let scale = b.abs().max().double_value(&[]).max(1e-6);
    (a - b).abs().max().double_value(&[]) / scale
}

#[test]
fn every_architecture_fused_equals_its_members_alone() {
    let _rng = rng();
    tfkd_models::kernels::set_onednn(false);
    tch::manual_seed(0);
    let xs = inputs();
    let labels = Tensor::from_slice(&[1i64, 3, 5]);
    for &arch in Arch::ALL {
        let (fvs, fnet) = fused(arch);
        let m = SEEDS.len() as i64;
        let x = member::stack_inputs(&xs);
        let train = with_dropout_keys(&KEYS, || fnet.forward(&x, true));
        let losses: Vec<Tensor> =
            (0..m).map(|a| member::logits(&train, a, m).cross_entropy_for_logits(&labels)).collect();
        Tensor::stack(&losses, 0).sum(Kind::Float).backward();
        let eval = tch::no_grad(|| fnet.forward(&x, false));
        for (a, &seed) in SEEDS.iter().enumerate() {
            let (vs, net) = single(arch, seed);
            let alone = with_dropout_keys(&[KEYS[a]], || net.forward(&xs[a], true));
            let got = member::logits(&train, a as i64, m);
            assert!(got.equal(&alone), "{arch} member {a}: train-mode logits differ by {}", rel_diff(&got, &alone));
            alone.cross_entropy_for_logits(&labels).backward();
            for (name, fused_var) in fvs.variables().iter().filter(|(_, v)| v.requires_grad()) {
                let rows = fused_var.size()[0] / m;
                let g = fused_var.grad().narrow(0, a as i64 * rows, rows);
                let g_alone = vs.variables()[name].grad();
                assert!(
                    g.equal(&g_alone),
                    "{arch} member {a}: gradient of {name} differs by {}",
                    rel_norm(&g, &g_alone)
                );
            }
            let alone_eval = tch::no_grad(|| net.forward(&xs[a], false));
            let got_eval = member::logits(&eval, a as i64, m);
            assert!(
                got_eval.equal(&alone_eval),
                "{arch} member {a}: eval logits differ by {}",
                rel_diff(&got_eval, &alone_eval)
            );
        }
    }
}

#[test]
fn member_checkpoints_are_single_model_checkpoints() {
    let _rng = rng();
    let dir = tempfile::tempdir().unwrap();
    for arch in [Arch::ResNet18, Arch::ShuffleNetV2, Arch::Cnn5] {
        let (fvs, _) = fused(arch);
        let path = dir.path().join(format!("{arch}-member-1.safetensors"));
        member::save(&fvs, 1, SEEDS.len() as i64, &path).unwrap();
        let mut vs = nn::VarStore::new(Device::Cpu);
        let _net = Network::build(&vs, arch, small()).unwrap();
        tfkd_models::load(&mut vs, &path).unwrap();
        for (name, want) in member::init(arch, small(), SEEDS[1]).unwrap() {
            assert!(vs.variables()[&name].equal(&want), "{arch}: {name} differs after the round trip");
        }
        // And back into another member of an array.
        let (other, _) = fused(arch);
        member::load(&other, 2, SEEDS.len() as i64, &path).unwrap();
        for (name, v) in member::weights(&other, 2, SEEDS.len() as i64) {
            assert!(v.equal(&vs.variables()[&name]), "{arch}: {name} not loaded into member 2");
        }
    }
}

#[test]
fn dropout_masks_depend_on_the_member_key_only() {
    let _rng = rng();
    let (_vs, net) = single(Arch::Cnn5, 1);
    let x = Tensor::randn([8, 3, 32, 32], (Kind::Float, Device::Cpu));
    let a = with_dropout_keys(&[7], || net.forward(&x, true));
    let b = with_dropout_keys(&[7], || net.forward(&x, true));
    let c = with_dropout_keys(&[8], || net.forward(&x, true));
    assert!(a.equal(&b), "same key, same masks");
    assert!(!a.equal(&c), "another key draws other masks");
}
