//! The floor: the smallest broadcast server tokio-tungstenite allows, for comparison in the
//! same run. Every text frame a client sends is encoded once and sent to every client.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message as Ws;

pub async fn serve(listen: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        listen.starts_with("127."),
        "the floor server only listens on loopback"
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("floor broadcast server on ws://{}/", listener.local_addr()?);
    let (tx, _) = broadcast::channel::<Arc<Ws>>(65_536);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let tx = tx.clone();
        tokio::spawn(async move {
            // Reads as the load tool's own sockets do (tungstenite's default zero-fills 128 KiB
            // before every read).
            let config = taina_protocol::client::socket_config();
            let Ok(socket) =
                tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
            else {
                return;
            };
            let (mut sink, mut source) = socket.split();
            let mut rx = tx.subscribe();
            let writer = tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(frame) => {
                            if sink.send(Ws::clone(&frame)).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
            while let Some(Ok(frame)) = source.next().await {
                if frame.is_text() {
                    let _ = tx.send(Arc::new(frame));
                }
            }
            writer.abort();
        });
    }
}
