//! Outgoing mail: what the server sends people by email (password reset and email
//! confirmation links), over SMTP with `lettre`.
//!
//! [`Mailer`] is a cheap handle. Configured (`mail.smtp_url`), it queues [`Letter`]s for one
//! background task that delivers them, so a request never waits on a slow SMTP server; a full
//! queue or a failed delivery is logged, never reported to the client who caused the mail.
//! Not configured, every letter is written to the log instead (links are also shown to admins
//! and printed by `taina user reset-link`), so a community without mail still works.
//!
//! - `target.rs`: `mail.smtp_url` read into an SMTP transport (plain, STARTTLS, implicit TLS);
//! - `letter.rs`: one message (to, subject, text) and its MIME form;
//! - `mailer.rs`: the handle, the queue and the delivery task;
//! - `error.rs`: [`MailError`].

mod error;
mod letter;
mod mailer;
mod target;

pub use error::MailError;
pub use letter::Letter;
pub use mailer::Mailer;
pub use target::SmtpTarget;
