//! This is the short fuzz pass of `make test`. It runs each target's kept regressions, then a
//! few thousand new cases (`make fuzz` runs ten million). A broken property fails with the
//! minimal input.

use idv_fuzz::{Target, run};

fn short_pass(target: Target, cases: u32) {
    let result = run(target, cases);
    if let Some(failure) = result.failure {
        panic!("{} broke a property:\n{failure}", target.name());
    }
}

#[test]
fn arbitrary_bytes_never_panic_and_never_pass_an_unsigned_delivery() {
    short_pass(Target::RawBytes, 20_000);
}

#[test]
fn mutated_payloads_parse_or_fail_cleanly_and_accepted_ones_round_trip() {
    short_pass(Target::MutatedPayloads, 5_000);
}

#[test]
fn event_sequences_apply_once_and_never_open_the_gate_without_regular() {
    short_pass(Target::EventSequences, 2_000);
}
