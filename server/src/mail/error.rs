//! What can go wrong with outgoing mail. None of it reaches a client: a configuration error
//! stops the start, a delivery error is logged.

/// Mail's errors.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail.smtp_url: {0}")]
    InvalidUrl(String),
    #[error(
        "mail.from `{0}` is not a mail address (`Name <user@example.org>` or `user@example.org`)"
    )]
    InvalidFrom(String),
    #[error("recipient `{0}` is not a mail address")]
    InvalidRecipient(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("the SMTP server refused or failed: {0}")]
    Send(String),
    #[error("the outgoing mail queue is full")]
    QueueFull,
}
