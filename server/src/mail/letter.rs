//! One outgoing message: a plain-text letter to one address.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::Message;

use super::MailError;

/// A plain-text mail to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Letter {
    pub to: String,
    pub subject: String,
    pub text: String,
}

impl Letter {
    pub fn new(to: impl Into<String>, subject: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            subject: subject.into(),
            text: text.into(),
        }
    }

    /// The MIME message from `from` (UTF-8 text, quoted-printable as `lettre` decides).
    pub fn to_message(&self, from: &Mailbox) -> Result<Message, MailError> {
        let to: Mailbox = self
            .to
            .parse()
            .map_err(|_| MailError::InvalidRecipient(self.to.clone()))?;
        // Without the `hostname` feature lettre adds no Message-ID: one under the sender's
        // domain, as receiving servers expect.
        let message_id = format!("<{}@{}>", nanoid::nanoid!(), from.email.domain());
        Message::builder()
            .message_id(Some(message_id))
            .from(from.clone())
            .to(to)
            .subject(self.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(self.text.clone())
            .map_err(|e| MailError::Build(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letter_becomes_a_plain_text_message() {
        let from: Mailbox = "Tainá <noreply@example.org>".parse().unwrap();
        let letter = Letter::new("ana@example.org", "Olá", "line one\nhttps://x/a?b=c\n");
        let raw = String::from_utf8(letter.to_message(&from).unwrap().formatted()).unwrap();
        assert!(raw.contains("To: ana@example.org"), "{raw}");
        assert!(raw.contains("@example.org>\r\n"), "a Message-ID: {raw}");
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(matches!(
            Letter::new("not an address", "s", "t").to_message(&from),
            Err(MailError::InvalidRecipient(_))
        ));
    }
}
