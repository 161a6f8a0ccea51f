//! The order state machine, pure: `routed → accepted → ready | dispatched → dispensed`; a rejection or a missed
//! acceptance deadline moves a routed order on to the next pharmacy (or ends it `unfulfilled`); the patient may cancel
//! until a pharmacy accepts. The handlers apply it with compare-and-set, so the database agrees with it.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Routed,
    Accepted,
    Ready,
    Dispatched,
    Dispensed,
    Unfulfilled,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 7] =
        [Status::Routed, Status::Accepted, Status::Ready, Status::Dispatched, Status::Dispensed, Status::Unfulfilled, Status::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Routed => "routed",
            Self::Accepted => "accepted",
            Self::Ready => "ready",
            Self::Dispatched => "dispatched",
            Self::Dispensed => "dispensed",
            Self::Unfulfilled => "unfulfilled",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// No action moves an order out of these.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Dispensed | Self::Unfulfilled | Self::Cancelled)
    }

    /// While open, a pharmacy holds the order.
    pub fn is_open(self) -> bool {
        !self.is_terminal()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fulfilment {
    Pickup,
    Delivery,
}

impl Fulfilment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pickup => "pickup",
            Self::Delivery => "delivery",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pickup" => Some(Self::Pickup),
            "delivery" => Some(Self::Delivery),
            _ => None,
        }
    }
}

/// What someone does to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The holding pharmacy takes it on.
    Accept,
    /// The holding pharmacy declines it.
    Reject,
    /// The acceptance deadline passed.
    TimeOut,
    /// Packed, waiting at the counter (pickup orders).
    Ready,
    /// Sent out (delivery orders).
    Dispatch,
    /// Handed over.
    Dispense,
    /// The patient withdraws it.
    Cancel,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::TimeOut => "time_out",
            Self::Ready => "ready",
            Self::Dispatch => "dispatch",
            Self::Dispense => "dispense",
            Self::Cancel => "cancel",
        }
    }
}

/// Where an action leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    To(Status),
    /// On to the next nearest pharmacy that has not yet had it, or `unfulfilled` when none is left.
    Reroute,
}

/// The transition `action` makes from `status`, or `None` when it is not allowed.
pub fn next(status: Status, fulfilment: Fulfilment, action: Action) -> Option<Next> {
    use Action as A;
    use Status as S;
    match (status, action) {
        (S::Routed, A::Accept) => Some(Next::To(S::Accepted)),
        (S::Routed, A::Reject | A::TimeOut) => Some(Next::Reroute),
        (S::Routed, A::Cancel) => Some(Next::To(S::Cancelled)),
        (S::Accepted, A::Ready) if fulfilment == Fulfilment::Pickup => Some(Next::To(S::Ready)),
        (S::Accepted, A::Dispatch) if fulfilment == Fulfilment::Delivery => Some(Next::To(S::Dispatched)),
        (S::Ready | S::Dispatched, A::Dispense) => Some(Next::To(S::Dispensed)),
        _ => None,
    }
}

/// The statuses an action may start from (for the compare-and-set's `WHERE status IN (...)`).
pub fn sources(action: Action, fulfilment: Fulfilment) -> Vec<Status> {
    Status::ALL.into_iter().filter(|s| next(*s, fulfilment, action).is_some()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTIONS: [Action; 7] =
        [Action::Accept, Action::Reject, Action::TimeOut, Action::Ready, Action::Dispatch, Action::Dispense, Action::Cancel];

    #[test]
    fn terminal_states_stay_terminal() {
        for status in Status::ALL.into_iter().filter(|s| s.is_terminal()) {
            for action in ACTIONS {
                for f in [Fulfilment::Pickup, Fulfilment::Delivery] {
                    assert_eq!(next(status, f, action), None, "{status} + {action:?}");
                }
            }
        }
    }

    #[test]
    fn the_happy_paths() {
        let pickup = [Action::Accept, Action::Ready, Action::Dispense];
        let delivery = [Action::Accept, Action::Dispatch, Action::Dispense];
        for (f, path) in [(Fulfilment::Pickup, pickup), (Fulfilment::Delivery, delivery)] {
            let mut s = Status::Routed;
            for a in path {
                let Some(Next::To(n)) = next(s, f, a) else { panic!("{s} + {a:?}") };
                s = n;
            }
            assert_eq!(s, Status::Dispensed);
        }
    }

    #[test]
    fn what_is_refused() {
        use Fulfilment::*;
        assert_eq!(next(Status::Accepted, Pickup, Action::Cancel), None, "no cancel after acceptance");
        assert_eq!(next(Status::Accepted, Pickup, Action::Dispatch), None, "a pickup order is not dispatched");
        assert_eq!(next(Status::Accepted, Delivery, Action::Ready), None);
        assert_eq!(next(Status::Accepted, Pickup, Action::Dispense), None, "dispensing comes after ready");
        assert_eq!(next(Status::Routed, Pickup, Action::Dispense), None);
        assert_eq!(next(Status::Accepted, Pickup, Action::Reject), None, "accepted orders are not rejected");
        assert_eq!(sources(Action::Dispense, Pickup), [Status::Ready, Status::Dispatched]);
        assert_eq!(Status::parse("ready"), Some(Status::Ready));
        assert_eq!(Status::parse("lost"), None);
    }
}
