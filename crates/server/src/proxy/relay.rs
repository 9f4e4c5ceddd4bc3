//! After the upstream login: bytes both ways, untouched, until either side closes (which
//! closes the other); a CancelRequest for this session goes to the upstream backend.

use tokio::io::AsyncWriteExt as _;
use tokio::sync::Notify;

use crate::stream::Transport;

pub(super) async fn run(
    mut client: Box<dyn Transport>,
    client_buffered: Vec<u8>,
    mut upstream: pgscram_client::Stream,
    upstream_buffered: Vec<u8>,
    cancel: &Notify,
    token: Option<pgscram_client::CancelToken>,
) {
    // Bytes each side sent before the hand-over (a pipelined first query) go first.
    if !client_buffered.is_empty() && upstream.write_all(&client_buffered).await.is_err() {
        return;
    }
    if !upstream_buffered.is_empty() && client.write_all(&upstream_buffered).await.is_err() {
        return;
    }
    let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
    tokio::pin!(copy);
    loop {
        tokio::select! {
            _ = &mut copy => return,
            () = cancel.notified() => {
                if let Some(token) = token.clone() {
                    tokio::spawn(async move {
                        let _ = token.cancel().await;
                    });
                }
            }
        }
    }
}
