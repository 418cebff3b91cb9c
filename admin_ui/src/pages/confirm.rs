//! The page an email confirmation link opens: one button that confirms the address (a GET
//! confirms nothing, so a mail scanner following the link cannot). Public (the token in the
//! link is the secret); the form repeats a nonce from its own cookie like the sign-in form.

use maud::{html, Markup, DOCTYPE};

use crate::layout::{csrf_field, head};
use crate::model::ConfirmForm;

pub fn page(form: &ConfirmForm) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Confirm your email address"))
            body {
                main.signin {
                    h1 { "Confirm your email address" }
                    @if let Some(email) = &form.confirmed {
                        p #confirm-done role="status" {
                            "Thank you: " (email) " is confirmed. You can close this page and sign in in your app."
                        }
                    } @else {
                        @if let Some(error) = &form.error {
                            div.flash.error role="alert" { (error) }
                        }
                        form.stack #confirm method="post" {
                            (csrf_field(&form.csrf_token))
                            button type="submit" { "Confirm my address" }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_button_posts_back_to_its_own_link_and_done_names_the_address() {
        let html = page(&ConfirmForm {
            csrf_token: "n".into(),
            error: Some("not <valid>".into()),
            confirmed: None,
        })
        .into_string();
        assert!(
            html.contains(r#"<form class="stack" id="confirm" method="post">"#),
            "{html}"
        );
        assert!(html.contains("not &lt;valid&gt;"));
        let done = page(&ConfirmForm {
            confirmed: Some("ana@example.org".into()),
            ..ConfirmForm::default()
        })
        .into_string();
        assert!(
            done.contains("confirm-done")
                && done.contains("ana@example.org")
                && !done.contains("<form")
        );
    }
}
