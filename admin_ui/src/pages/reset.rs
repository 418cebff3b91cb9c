//! The page a password reset link opens: a new password, twice. Public (the token in the link
//! is the secret); the form repeats a nonce from its own cookie like the sign-in form.

use maud::{html, Markup, DOCTYPE};

use crate::layout::{csrf_field, head};
use crate::model::ResetForm;

pub fn page(form: &ResetForm) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Set a new password"))
            body {
                main.signin {
                    h1 { "Set a new password" }
                    @if form.done {
                        p #reset-done role="status" {
                            "Your new password is set, and every device that was signed in has been signed out. Sign in again in your app."
                        }
                    } @else {
                        @if let Some(error) = &form.error {
                            div.flash.error role="alert" { (error) }
                        }
                        form.stack #reset method="post" {
                            (csrf_field(&form.csrf_token))
                            label { "New password" input type="password" name="password" required minlength="8" autocomplete="new-password"; }
                            label { "The same again" input type="password" name="repeat" required minlength="8" autocomplete="new-password"; }
                            button type="submit" { "Set the password" }
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
    fn the_form_posts_back_to_its_own_link_and_done_says_so() {
        let html = page(&ResetForm {
            csrf_token: "n".into(),
            error: Some("too <short>".into()),
            done: false,
        })
        .into_string();
        assert!(
            html.contains(r#"<form class="stack" id="reset" method="post">"#),
            "{html}"
        );
        assert!(html.contains("too &lt;short&gt;"));
        let done = page(&ResetForm {
            done: true,
            ..ResetForm::default()
        })
        .into_string();
        assert!(done.contains("reset-done") && !done.contains("<form"));
    }
}
