//! A long-lived task under supervision: [`TaskActor`] owns one task, a
//! server's accept loop, say, so that a supervisor watches it as it
//! watches any actor.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

/// What a [`TaskActor`] runs.
pub trait Task: Send + 'static {
    /// What the task is, as the actor's failure reason names it
    /// (`"the node's listener"`).
    const WHAT: &'static str;

    /// Sets the task up (binds its socket, finds the actors it talks to);
    /// an error fails the actor's start. The future it returns is the task:
    /// it ends only if the task does, with why.
    fn start(
        self,
    ) -> impl Future<Output = Result<Pin<Box<dyn Future<Output = String> + Send>>, ActorProcessingErr>>
           + Send;
}

/// An actor that owns one task: it runs [`Task::start`] in its
/// `pre_start`, aborts the task when it stops, and fails (so that its
/// supervisor restarts it, with a new `T` from its child spec) if the task
/// ends by itself.
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use actor_core::{ChildSpec, Task, TaskActor};
///
/// #[derive(Clone)]
/// struct Ticker;
///
/// impl Task for Ticker {
///     const WHAT: &'static str = "the ticker";
///     async fn start(
///         self,
///     ) -> Result<Pin<Box<dyn Future<Output = String> + Send>>, ractor::ActorProcessingErr> {
///         Ok(Box::pin(async {
///             loop {
///                 tokio::time::sleep(std::time::Duration::from_secs(1)).await;
///             }
///         }))
///     }
/// }
///
/// let spec = ChildSpec::new("ticker", || (TaskActor::new(), Ticker));
/// # let _ = spec;
/// ```
#[derive(Debug)]
pub struct TaskActor<T>(PhantomData<fn() -> T>);

impl<T> TaskActor<T> {
    /// The actor, for a [`ChildSpec`](crate::ChildSpec) factory.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for TaskActor<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A [`TaskActor`]'s task ended by itself, with why.
#[derive(Debug)]
pub struct TaskEnded(String);

impl ractor::Message for TaskEnded {}

impl<T: Task> Actor for TaskActor<T> {
    type Msg = TaskEnded;
    type State = JoinHandle<()>;
    type Arguments = T;

    async fn pre_start(
        &self,
        myself: ActorRef<TaskEnded>,
        task: T,
    ) -> Result<JoinHandle<()>, ActorProcessingErr> {
        let run = task.start().await?;
        Ok(tokio::spawn(async move {
            let why = run.await;
            let _ = myself.send_message(TaskEnded(why));
        }))
    }

    async fn handle(
        &self,
        _myself: ActorRef<TaskEnded>,
        TaskEnded(why): TaskEnded,
        _task: &mut JoinHandle<()>,
    ) -> Result<(), ActorProcessingErr> {
        Err(format!("{}: {why}", T::WHAT).into())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<TaskEnded>,
        task: &mut JoinHandle<()>,
    ) -> Result<(), ActorProcessingErr> {
        task.abort();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::mpsc;

    /// Ends at once the first time, then runs until aborted; tells each
    /// start.
    #[derive(Clone)]
    struct Flaky(Arc<AtomicUsize>, mpsc::UnboundedSender<usize>);

    impl Task for Flaky {
        const WHAT: &'static str = "the flaky task";
        async fn start(
            self,
        ) -> Result<Pin<Box<dyn Future<Output = String> + Send>>, ActorProcessingErr> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            let _ = self.1.send(n);
            Ok(Box::pin(async move {
                if n == 0 {
                    return "ended".to_owned();
                }
                std::future::pending::<String>().await
            }))
        }
    }

    #[tokio::test]
    async fn a_task_that_ends_fails_its_actor_and_is_started_again() {
        let (tx, mut starts) = mpsc::unbounded_channel();
        let flaky = Flaky(Arc::new(AtomicUsize::new(0)), tx);
        let spec = crate::SupervisorSpec::with_strategy(crate::Strategy::OneForOne).child(
            crate::ChildSpec::new("flaky", move || (TaskActor::new(), flaky.clone())),
        );
        let supervisor = crate::Supervisor::start(spec).await.unwrap();
        for expected in [0, 1] {
            let started = tokio::time::timeout(Duration::from_secs(5), starts.recv()).await;
            assert_eq!(started.unwrap(), Some(expected));
        }
        supervisor.stop().await;
        // The second run never ended: no third start.
        assert!(starts.try_recv().is_err());
    }
}
