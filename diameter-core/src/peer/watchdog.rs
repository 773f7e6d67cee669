//! The application-layer watchdog of RFC 3539 §3.4 and its Appendix A, sans-IO.
//!
//! ```text
//!  INITIAL --conn up--> OKAY --Tw, DWR unanswered--> SUSPECT --Tw--> DOWN
//!                        ^  <-----any message------------'             |
//!                        |                                        conn up again
//!                        '------ third DWA ------- REOPEN <-----------'
//! ```

use crate::ids::Jitter;
use std::time::{Duration, Instant};

/// The watchdog status of a peer connection (RFC 3539 Appendix A).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchdogState {
    /// Never opened.
    Initial,
    /// Up; traffic may flow.
    Okay,
    /// A DWR went unanswered for Tw; requests should fail over.
    Suspect,
    /// The connection was closed.
    Down,
    /// Reconnected after DOWN; three DWAs are needed before traffic resumes.
    Reopen,
}

/// What the watchdog asks its owner to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WdAction {
    /// Send a DWR.
    SendDwr,
    /// The peer became SUSPECT: fail pending requests over.
    Failover,
    /// The peer is OKAY again after SUSPECT or REOPEN.
    Failback,
    /// The peer is DOWN: close the connection.
    Close,
}

/// One watchdog: status, the pending DWR flag, the DWA count during REOPEN and timer Tw.
#[derive(Debug)]
pub(crate) struct Watchdog {
    pub(crate) state: WatchdogState,
    pending: bool,
    num_dwa: i32,
    pub(crate) deadline: Option<Instant>,
    tw: Duration,
    jitter: Duration,
    rng: Jitter,
    /// When the running timer was set.
    set_at: Option<Instant>,
}

impl Watchdog {
    pub(crate) fn new(tw: Duration, jitter: Duration, seed: u64) -> Self {
        Watchdog {
            state: WatchdogState::Initial,
            pending: false,
            num_dwa: 0,
            deadline: None,
            tw,
            jitter,
            rng: Jitter::new(seed),
            set_at: None,
        }
    }

    /// SetWatchdog(): Tw plus a jitter in [-jitter, +jitter].
    fn set_timer(&mut self, now: Instant) {
        // Messages handled together share one `now`: the timer set for the first stands.
        if self.deadline.is_some() && self.set_at == Some(now) {
            return;
        }
        self.set_at = Some(now);
        let j = self.jitter.as_millis() as u64;
        let offset = self.rng.below(2 * j);
        let tw = (self.tw + Duration::from_millis(offset)).saturating_sub(self.jitter);
        self.deadline = Some(now + tw.max(Duration::from_millis(1)));
    }

    pub(crate) fn on_connection_up(&mut self, now: Instant) -> Option<WdAction> {
        self.pending = false;
        if self.state == WatchdogState::Down {
            self.state = WatchdogState::Reopen;
            self.num_dwa = 0;
            self.pending = true;
            self.set_timer(now);
            return Some(WdAction::SendDwr);
        }
        self.state = WatchdogState::Okay;
        self.set_timer(now);
        None
    }

    /// OnReceive(); returns whether the message should be processed (false: throw away)
    /// and an action.
    pub(crate) fn on_receive(&mut self, now: Instant, is_dwa: bool) -> (bool, Option<WdAction>) {
        if is_dwa {
            self.pending = false;
        }
        match self.state {
            WatchdogState::Okay => {
                self.set_timer(now);
                (true, None)
            }
            WatchdogState::Suspect => {
                self.state = WatchdogState::Okay;
                self.set_timer(now);
                (true, Some(WdAction::Failback))
            }
            WatchdogState::Reopen if is_dwa => {
                // NumDWA may be -1 after one silent Tw; count from there as Appendix A does.
                self.num_dwa += 1;
                if self.num_dwa >= 3 {
                    self.state = WatchdogState::Okay;
                    self.set_timer(now);
                    return (true, Some(WdAction::Failback));
                }
                (true, None)
            }
            WatchdogState::Reopen | WatchdogState::Initial | WatchdogState::Down => (false, None),
        }
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) -> Option<WdAction> {
        match self.state {
            WatchdogState::Okay if !self.pending => {
                self.pending = true;
                self.set_timer(now);
                Some(WdAction::SendDwr)
            }
            WatchdogState::Okay => {
                self.state = WatchdogState::Suspect;
                self.set_timer(now);
                Some(WdAction::Failover)
            }
            WatchdogState::Suspect => {
                self.state = WatchdogState::Down;
                self.deadline = None;
                Some(WdAction::Close)
            }
            WatchdogState::Reopen if !self.pending => {
                self.pending = true;
                self.set_timer(now);
                Some(WdAction::SendDwr)
            }
            WatchdogState::Reopen => {
                if self.num_dwa < 0 {
                    self.state = WatchdogState::Down;
                    self.deadline = None;
                    return Some(WdAction::Close);
                }
                self.num_dwa = -1;
                self.set_timer(now);
                None
            }
            WatchdogState::Initial | WatchdogState::Down => {
                self.deadline = None;
                None
            }
        }
    }

    /// OnConnectionDown(): the connection is gone (re-opening is the peer's Tc timer).
    pub(crate) fn on_connection_down(&mut self) {
        if self.state != WatchdogState::Initial {
            self.state = WatchdogState::Down;
        }
        self.pending = false;
        self.deadline = None;
    }

    /// After an orderly DPR/DPA the next connection starts fresh, as INITIAL.
    pub(crate) fn reset(&mut self) {
        self.state = WatchdogState::Initial;
        self.pending = false;
        self.deadline = None;
    }
}
