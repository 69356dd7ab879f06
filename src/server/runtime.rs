//! The tokio runtime a server (or a channel broker) owns. One worker (the default) is
//! a current-thread runtime on its own OS thread: no work-stealing machinery on the
//! hot path. More workers use the multi-thread scheduler.

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::sync::oneshot;

pub enum ServerRuntime {
  Single { handle: Handle, stop: Option<oneshot::Sender<()>> },
  Multi(Runtime),
}

impl ServerRuntime {
  /// `name` names its threads. A single worker's thread also stops when this is dropped.
  pub fn start(workers: usize, name: &str) -> std::io::Result<Self> {
    if workers > 1 {
      let rt = Builder::new_multi_thread().worker_threads(workers).thread_name(name).enable_all().build()?;
      return Ok(Self::Multi(rt));
    }
    let rt = Builder::new_current_thread().enable_all().build()?;
    let handle = rt.handle().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    std::thread::Builder::new().name(name.into()).spawn(move || {
      // Runs every task spawned through `handle` until stopped (or the sender is dropped).
      rt.block_on(async {
        let _ = stopped.await;
      });
      rt.shutdown_background();
    })?;
    Ok(Self::Single { handle, stop: Some(stop) })
  }

  pub fn handle(&self) -> &Handle {
    match self {
      Self::Single { handle, .. } => handle,
      Self::Multi(rt) => rt.handle(),
    }
  }

  /// Stops the runtime without waiting for it (never blocks the JS thread).
  pub fn shutdown(self) {
    match self {
      Self::Single { mut stop, .. } => {
        if let Some(s) = stop.take() {
          let _ = s.send(());
        }
      }
      Self::Multi(rt) => rt.shutdown_background(),
    }
  }
}
