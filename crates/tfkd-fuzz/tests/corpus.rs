//! Every fuzz target's seeds and committed regressions (`fuzz/regressions/<target>/`), run once in-process: each
//! input must keep its target's property (a value, or an error naming the file; a damaged index rebuilt). An
//! input the fuzzer once found breaking a parser stays here as the test that it no longer does.

use tfkd_fuzz::{repo, Harness, Target};

#[test]
fn every_seed_and_regression_keeps_its_property() {
    for target in Target::ALL {
        let scratch = tempfile::tempdir().unwrap();
        let mut harness = Harness::new(target, &repo(), scratch.path()).unwrap();
        let seeds = harness.seeds().unwrap();
        for (i, seed) in seeds.iter().enumerate() {
            if let Err(violation) = harness.run(seed) {
                panic!("{} seed {i}: {violation}", target.name());
            }
        }
    }
}

/// The harness itself: mutated inputs of every target, a few hundred in-process with a fixed seed, keep the
/// property (the long runs are `just fuzz`'s, supervised).
#[test]
fn mutated_inputs_keep_their_property() {
    for target in Target::ALL {
        let scratch = tempfile::tempdir().unwrap();
        let mut harness = Harness::new(target, &repo(), scratch.path()).unwrap();
        let seeds = harness.seeds().unwrap();
        let mut rng = tfkd_fuzz::Rng::new(2026);
        for i in 0..200 {
            let (a, b) = (rng.below(seeds.len()), rng.below(seeds.len()));
            let input = tfkd_fuzz::mutate(&mut rng, &seeds[a], &seeds[b], target.is_text());
            if let Err(violation) = harness.run(&input) {
                panic!("{} mutation {i}: {violation}", target.name());
            }
        }
    }
}
