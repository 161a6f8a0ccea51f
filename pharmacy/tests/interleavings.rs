//! Property test of the order rules over random interleavings of accept, reject, time-out, ready, dispatch, dispense
//! and cancel by several pharmacies and the patient: one holder at a time, never a pharmacy twice, never more dispensed
//! than prescribed nor twice, and terminal states stay terminal.

use proptest::prelude::*;
use vaidya_pharmacy::machine::{Action, Fulfilment, Next, Status, next};

/// Who does what: `by` is a pharmacy index (the patient cancels; time-outs have no actor).
#[derive(Clone, Copy, Debug)]
struct Step {
    action: Action,
    by: usize,
    quantity: u32,
}

/// An order among `pharmacies` pharmacies, nearest first, applying the same rules the service applies.
#[derive(Debug)]
struct Order {
    status: Status,
    fulfilment: Fulfilment,
    holder: Option<usize>,
    had_turn: Vec<bool>,
    prescribed: u32,
    dispensed: Option<u32>,
}

impl Order {
    fn new(pharmacies: usize, fulfilment: Fulfilment, prescribed: u32) -> Self {
        let mut had_turn = vec![false; pharmacies];
        had_turn[0] = true;
        Self { status: Status::Routed, fulfilment, holder: Some(0), had_turn, prescribed, dispensed: None }
    }

    /// Applies a step the way the handlers do; returns whether it was accepted.
    fn apply(&mut self, step: Step) -> bool {
        let pharmacy_action = !matches!(step.action, Action::Cancel | Action::TimeOut);
        // Only the holding pharmacy may act (anyone else gets 404).
        if pharmacy_action && self.holder != Some(step.by) {
            return false;
        }
        // Dispensing more than prescribed is refused before any state changes.
        if step.action == Action::Dispense && (step.quantity == 0 || step.quantity > self.prescribed) {
            return false;
        }
        match next(self.status, self.fulfilment, step.action) {
            None => false,
            Some(Next::To(status)) => {
                if status == Status::Dispensed {
                    assert!(self.dispensed.is_none(), "the state machine allowed a second dispensing");
                    self.dispensed = Some(step.quantity);
                }
                self.status = status;
                if status == Status::Cancelled {
                    self.holder = None;
                }
                true
            }
            Some(Next::Reroute) => {
                match self.had_turn.iter().position(|had| !had) {
                    Some(nearest_left) => {
                        self.had_turn[nearest_left] = true;
                        self.holder = Some(nearest_left);
                    }
                    None => {
                        self.holder = None;
                        self.status = Status::Unfulfilled;
                    }
                }
                true
            }
        }
    }
}

fn step(pharmacies: usize) -> impl Strategy<Value = Step> {
    let action = prop_oneof![
        Just(Action::Accept),
        Just(Action::Reject),
        Just(Action::TimeOut),
        Just(Action::Ready),
        Just(Action::Dispatch),
        Just(Action::Dispense),
        Just(Action::Cancel),
    ];
    (action, 0..pharmacies, 0u32..40).prop_map(|(action, by, quantity)| Step { action, by, quantity })
}

fn scenario() -> impl Strategy<Value = (usize, bool, u32, Vec<Step>)> {
    (2usize..6).prop_flat_map(|n| (Just(n), any::<bool>(), 1u32..30, proptest::collection::vec(step(n), 1..60)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_interleaving_keeps_the_invariants((pharmacies, delivery, prescribed, steps) in scenario()) {
        let fulfilment = if delivery { Fulfilment::Delivery } else { Fulfilment::Pickup };
        let mut order = Order::new(pharmacies, fulfilment, prescribed);
        let mut turns = 1;
        for s in steps {
            let before = order.status;
            let holder_before = order.holder;
            let applied = order.apply(s);
            if before.is_terminal() {
                prop_assert!(!applied && order.status == before, "terminal {before} moved on {s:?}");
            }
            if order.holder != holder_before && order.holder.is_some() {
                turns += 1;
            }
            // One holder while open, none once over (accepted orders keep theirs until the end).
            prop_assert_eq!(order.holder.is_some(), order.status.is_open() || order.status == Status::Dispensed,
                "holder {:?} in {}", order.holder, order.status);
            prop_assert!(order.dispensed.is_none_or(|q| q >= 1 && q <= prescribed));
            prop_assert_eq!(order.dispensed.is_some(), order.status == Status::Dispensed);
        }
        prop_assert!(turns <= pharmacies, "no pharmacy is offered the order twice");
    }
}
