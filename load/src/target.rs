//! What a scenario is aimed at: Tainá in one of its socket modes, or a peer started for
//! the comparison (the floor broadcast server, the reference graphql-ws server, Socket.IO).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Phoenix,
    Graphql,
    Mux,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Taina(Mode),
    /// The minimal tokio-tungstenite broadcast server at this `ws://` URL.
    Floor(String),
    /// The reference graphql-ws server at this `ws://…/graphql` URL.
    GraphqlWs(String),
    /// A Socket.IO server at this `ws://host:port` base.
    SocketIo(String),
}

impl Mode {
    pub fn parse(mode: &str) -> anyhow::Result<Mode> {
        match mode {
            "phoenix" => Ok(Mode::Phoenix),
            "graphql" => Ok(Mode::Graphql),
            "mux" => Ok(Mode::Mux),
            other => anyhow::bail!("mode is phoenix, graphql or mux, not {other}"),
        }
    }
}

impl Target {
    /// `--target` and `--mode` (for Tainá) or `--peer-url` (for the others).
    pub fn parse(target: &str, mode: &str, peer_url: Option<&str>) -> anyhow::Result<Target> {
        let mode = Mode::parse(mode)?;
        let peer = |name: &str| -> anyhow::Result<String> {
            let url =
                peer_url.ok_or_else(|| anyhow::anyhow!("--target {name} needs --peer-url"))?;
            anyhow::ensure!(
                url.starts_with("ws://127.") || url.starts_with("ws://localhost"),
                "peers are only ever on loopback: {url} is not"
            );
            Ok(url.to_string())
        };
        match target {
            "taina" => Ok(Target::Taina(mode)),
            "floor" => Ok(Target::Floor(peer("floor")?)),
            "graphql-ws" => Ok(Target::GraphqlWs(peer("graphql-ws")?)),
            "socketio" => Ok(Target::SocketIo(peer("socketio")?)),
            other => anyhow::bail!("target is taina, floor, graphql-ws or socketio, not {other}"),
        }
    }

    pub fn is_taina(&self) -> bool {
        matches!(self, Target::Taina(_))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Taina(Mode::Phoenix) => f.write_str("taina"),
            Target::Taina(Mode::Graphql) => f.write_str("taina-graphql"),
            Target::Taina(Mode::Mux) => f.write_str("taina-mux"),
            Target::Floor(_) => f.write_str("floor"),
            Target::GraphqlWs(_) => f.write_str("graphql-ws"),
            Target::SocketIo(_) => f.write_str("socketio"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_refuse_what_is_not_loopback() {
        assert_eq!(
            Target::parse("taina", "mux", None).unwrap(),
            Target::Taina(Mode::Mux)
        );
        assert!(Target::parse("socketio", "phoenix", None).is_err());
        assert!(Target::parse("socketio", "phoenix", Some("ws://10.0.0.1:80")).is_err());
        assert_eq!(
            Target::parse("graphql-ws", "phoenix", Some("ws://127.0.0.1:4200/graphql")).unwrap(),
            Target::GraphqlWs("ws://127.0.0.1:4200/graphql".into())
        );
        assert!(Target::parse("centrifugo", "phoenix", None).is_err());
        assert!(Target::parse("taina", "sse", None).is_err());
    }
}
