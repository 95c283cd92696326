//! `tally`: the agent kind every `foundation node` registers whose state
//! (a count) is copied to other nodes, so it survives its node
//! (`spawn-on NODE tally SPEC`, `spawn-for-key KEY tally SPEC`), and that
//! can passivate when idle.

use std::time::Duration;

use actor_core::Restart;
use agents::{Agent, AgentSpec, Replication, Stateful};
use anyhow::{bail, Context};
use foundation::prelude::*;

use super::families::millis;
use super::node::CounterMsg;

/// The keys of a tally spec, for `help`.
pub(crate) const KEYS: &[&str] = &[
    "copies=N (other nodes holding its count; default 1)",
    "every=MS (copied at most once per MS; default after each change)",
    "restart=permanent|transient|temporary (default permanent)",
    "passivate=MS (passivated after MS without a message)",
    "asleep=MS (started passivated: no actor until its first message; passivated after MS without one)",
];

/// A count that survives its node: answers the counter's messages
/// (`ask agent/ID add N`, `get`, `next N`).
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    id: String,
    count: u64,
}

impl Server for Tally {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts.add::<CounterMsg>();
    }
}

impl Handler<CounterMsg> for Tally {
    async fn handle(&mut self, msg: CounterMsg) -> u64 {
        self.count = match msg {
            CounterMsg::Add(n) => self.count.saturating_add(n),
            CounterMsg::Next(n) if self.count != u64::MAX && n == self.count + 1 => n,
            CounterMsg::Next(_) => u64::MAX,
            CounterMsg::Get => self.count,
        };
        self.count
    }
}

impl Tally {
    /// A count served as a plain actor named `name` (the `counter` actor
    /// kind): not an agent, not copied, not moved.
    pub(crate) fn counter(name: &str) -> Self {
        Self {
            id: name.to_owned(),
            count: 0,
        }
    }
}

impl Agent for Tally {
    fn id(&self) -> String {
        self.id.clone()
    }
}

impl Stateful for Tally {
    type State = u64;

    fn state(&self) -> u64 {
        self.count
    }

    fn restore(&mut self, count: u64) {
        self.count = count;
    }
}

/// The spec of a tally from `ID[:copies=N][:every=MS][:restart=POLICY]`.
pub(crate) fn spec(text: &str) -> anyhow::Result<AgentSpec<Tally>> {
    let mut parts = text.split(':');
    let id = parts.next().unwrap_or_default().to_owned();
    if id.is_empty() {
        bail!("tally spec `{text}` has no id");
    }
    let (mut copies, mut every, mut restart) = (1, None::<Duration>, Restart::Permanent);
    let (mut passivate, mut asleep) = (None, false);
    for part in parts {
        match part.split_once('=') {
            Some(("copies", n)) => copies = n.parse().context("copies=N")?,
            Some(("every", ms)) => every = Some(millis(ms).context("every=MS")?),
            Some(("restart", "permanent")) => restart = Restart::Permanent,
            Some(("restart", "transient")) => restart = Restart::Transient,
            Some(("restart", "temporary")) => restart = Restart::Temporary,
            Some(("passivate", ms)) => passivate = Some(millis(ms).context("passivate=MS")?),
            Some(("asleep", ms)) => {
                passivate = Some(millis(ms).context("asleep=MS")?);
                asleep = true;
            }
            _ => bail!("`{part}` in tally spec `{text}` is not one of {KEYS:?}"),
        }
    }
    let how = match every {
        Some(every) => Replication::every(every, copies),
        None => Replication::on_change(copies),
    };
    let spec = AgentSpec::new(move || Tally {
        id: id.clone(),
        count: 0,
    })
    .restart(restart)
    .replicate(how);
    Ok(match passivate {
        Some(idle) if asleep => spec.asleep(idle),
        Some(idle) => spec.passivate_after(idle),
        None => spec,
    })
}
