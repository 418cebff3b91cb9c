//! [`Mailer`]: the handle contexts send letters through. Configured, letters go into a bounded
//! queue drained by one delivery task (a slow or unreachable SMTP server delays only that
//! task); not configured, each letter is written to the log.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::AsyncTransport;
use tokio::sync::mpsc;

use super::{Letter, MailError, SmtpTarget};
use crate::config::MailConfig;

/// Cheap to clone; every clone feeds the same queue.
#[derive(Clone)]
pub struct Mailer {
    delivery: Arc<Delivery>,
}

enum Delivery {
    /// Letters for the delivery task.
    Smtp(mpsc::Sender<Letter>),
    /// No mail configured: letters are logged.
    Log,
    /// Unit tests: letters are kept for the test to read.
    #[cfg(test)]
    Recorded(std::sync::Mutex<Vec<Letter>>),
}

impl Mailer {
    /// The mailer `config` asks for: SMTP when `smtp_url` is set (the delivery task is spawned
    /// here, on the current runtime), else the log. Refuses a malformed URL or `from`.
    pub fn start(config: &MailConfig) -> Result<Self, MailError> {
        let Some(url) = config.smtp_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(Self::log_only());
        };
        let target = SmtpTarget::parse(url)?;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| MailError::InvalidFrom(config.from.clone()))?;
        let timeout = Duration::from_secs(config.timeout_seconds.max(1));
        let transport = target.transport(timeout)?;
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        tracing::info!(smtp = %target.shown, tls = ?target.tls, from = %from, "outgoing mail");
        tokio::spawn(deliver(rx, transport, from, target.shown));
        Ok(Self {
            delivery: Arc::new(Delivery::Smtp(tx)),
        })
    }

    /// No mail: every letter is written to the log (info level) with its text.
    pub fn log_only() -> Self {
        Self {
            delivery: Arc::new(Delivery::Log),
        }
    }

    /// Whether letters actually leave the server (else the caller should show links itself).
    pub fn sends(&self) -> bool {
        !matches!(*self.delivery, Delivery::Log)
    }

    /// Queues a letter without waiting. A full queue drops it (logged, and the error returned
    /// for the caller to log or ignore; it must never tell a client).
    pub fn send(&self, letter: Letter) -> Result<(), MailError> {
        match &*self.delivery {
            Delivery::Smtp(queue) => queue.try_send(letter).map_err(|e| {
                let letter = e.into_inner();
                tracing::warn!(to = %letter.to, subject = %letter.subject, "outgoing mail queue full or closed: letter dropped");
                MailError::QueueFull
            }),
            Delivery::Log => {
                // Info, not a warning: without mail this is how links reach the operator,
                // every sign-up writes one, and nothing is wrong.
                tracing::info!(
                    to = %letter.to,
                    subject = %letter.subject,
                    "mail is not configured (mail.smtp_url): this letter was not sent:\n{}",
                    letter.text
                );
                Ok(())
            }
            #[cfg(test)]
            Delivery::Recorded(letters) => {
                letters.lock().expect("letters").push(letter);
                Ok(())
            }
        }
    }

    /// Unit tests: a mailer that keeps letters ([`recorded`](Self::recorded)) and counts as
    /// sending.
    #[cfg(test)]
    pub fn recording() -> Self {
        Self {
            delivery: Arc::new(Delivery::Recorded(Default::default())),
        }
    }

    /// Unit tests: the letters kept so far, taken.
    #[cfg(test)]
    pub fn recorded(&self) -> Vec<Letter> {
        match &*self.delivery {
            Delivery::Recorded(letters) => std::mem::take(&mut *letters.lock().expect("letters")),
            _ => Vec::new(),
        }
    }
}

/// The delivery task: one letter at a time until every [`Mailer`] is dropped. Failures are
/// logged with the recipient; nothing is retried (the person asks again).
async fn deliver(
    mut queue: mpsc::Receiver<Letter>,
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: Mailbox,
    shown: String,
) {
    while let Some(letter) = queue.recv().await {
        let result = match letter.to_message(&from) {
            Ok(message) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Send(e.to_string())),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => tracing::info!(to = %letter.to, subject = %letter.subject, "mail sent"),
            Err(e) => tracing::warn!(
                to = %letter.to,
                subject = %letter.subject,
                smtp = %shown,
                error = %e,
                "mail not sent"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An SMTP server that accepts connections and never says a word.
    async fn silent_server() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        (listener, url)
    }

    #[tokio::test]
    async fn a_stuck_smtp_server_never_holds_up_the_sender_and_a_full_queue_drops() {
        let (listener, url) = silent_server().await;
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                open.push(conn);
            }
        });
        let mailer = Mailer::start(&MailConfig {
            smtp_url: Some(url),
            queue: 1,
            ..MailConfig::default()
        })
        .unwrap();
        assert!(mailer.sends());
        let started = std::time::Instant::now();
        let results: Vec<_> = (0..3)
            .map(|i| mailer.send(Letter::new(format!("p{i}@example.org"), "s", "t")))
            .collect();
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(MailError::QueueFull))),
            "{results:?}"
        );
        held.abort();
    }

    #[test]
    fn without_a_url_letters_go_to_the_log_and_bad_settings_are_refused() {
        let mailer = Mailer::start(&MailConfig::default()).unwrap();
        assert!(!mailer.sends());
        mailer.send(Letter::new("a@example.org", "s", "t")).unwrap();
        let bad_from = MailConfig {
            smtp_url: Some("smtp://127.0.0.1:25".into()),
            from: "not an address".into(),
            ..MailConfig::default()
        };
        assert!(matches!(
            Mailer::start(&bad_from),
            Err(MailError::InvalidFrom(_))
        ));
        let bad_url = MailConfig {
            smtp_url: Some("http://127.0.0.1:25".into()),
            ..MailConfig::default()
        };
        assert!(matches!(
            Mailer::start(&bad_url),
            Err(MailError::InvalidUrl(_))
        ));
    }
}
