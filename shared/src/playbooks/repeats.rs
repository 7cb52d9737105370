//! The sweep's part of repeated notifications (`crate::repeats`): each count of an hour that is over,
//! told once with the number, then forgotten.

use super::approval::Redrive;
use super::executor::Responder;
use crate::clock::Clock;
use crate::error::Result;
use crate::incident::{AccountId, Origin};
use crate::ports::{Notifier, StateStore, Targets};

impl<T: Targets, N: Notifier, S: StateStore> Responder<T, N, S> {
    /// Tell every count of a window that is over and counted more than the one told at the time; a count
    /// whose notification fails is kept for the next sweep.
    pub async fn tell_repeats(&self, clock: &Clock) -> Result<Vec<Redrive>> {
        let mut told = Vec::new();
        for tally in self.state.closed_tallies(clock.now().hour()).await? {
            let key = crate::state_keys::tally(&tally.repeat, &tally.window);
            if tally.count > 1 {
                let notice = crate::notify::repeated(&tally);
                let origin = Origin { account: AccountId::parse(&tally.repeat.account), region: None };
                let notification = crate::notify::render(&notice, &origin, None, self.rendering());
                if let Err(e) = self.notifier.publish(&notification).await {
                    tracing::warn!(target: "firebreak::repeats", key, error = %e, "count not told; the next sweep tells it");
                    continue;
                }
            }
            self.state.forget_tally(&tally).await?;
            told.push(Redrive { key, outcome: format!("{} in the window, told", tally.count) });
        }
        Ok(told)
    }
}
