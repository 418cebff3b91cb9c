//! A community's settings as its admins edit them (`PATCH /api/auth/community`, GraphQL
//! `updateCommunity`, the panel's form): the name and slug (unique, the slug slugified) and,
//! in `communities.settings` (JSON), the default language and whether sign-up is `open` or
//! `invite_only` (the default). An open community takes sign-ups without an invite, as
//! members: naming it in `community_name`, or on an instance with one community.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::events::AuthEvent;
use super::model::{language_tag, slugify};
use super::security::AuthSecurityKind;
use super::service::{AuthService, Result};
use super::store::AuthStore;
use super::{AuthError, CommunityChanges, CommunitySettings, Principal, Registration, Role};
use crate::db::{is_unique_violation, query, query_as, query_scalar};
use crate::ids::CommunityId;

/// The default language of a community that never set one.
pub const DEFAULT_LANGUAGE: &str = "en";

/// What `communities.settings` holds; absent keys take their defaults.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_language: Option<String>,
    #[serde(default)]
    registration: Registration,
}

#[derive(FromRow)]
struct SettingsRow {
    id: CommunityId,
    name: String,
    slug: String,
    settings: String,
}

impl SettingsRow {
    fn into_settings(self) -> CommunitySettings {
        // A column edited by hand into something else reads as the defaults.
        let stored: Stored = serde_json::from_str(&self.settings).unwrap_or_default();
        CommunitySettings {
            id: self.id,
            name: self.name,
            slug: self.slug,
            default_language: stored
                .default_language
                .unwrap_or_else(|| DEFAULT_LANGUAGE.into()),
            registration: stored.registration,
        }
    }
}

impl AuthService {
    /// The settings of the principal's community (any member may read them).
    pub async fn community_settings(&self, principal: &Principal) -> Result<CommunitySettings> {
        self.settings_of(&principal.community_id).await
    }

    /// The default language a community's admins chose, if they ever did.
    pub async fn chosen_language(&self, id: &CommunityId) -> Result<Option<String>> {
        let Some(row) = self.store().community_settings(id).await? else {
            return Ok(None);
        };
        let stored: Stored = serde_json::from_str(&row.settings).unwrap_or_default();
        Ok(stored.default_language)
    }

    pub(super) async fn settings_of(&self, id: &CommunityId) -> Result<CommunitySettings> {
        Ok(self
            .store()
            .community_settings(id)
            .await?
            .ok_or(AuthError::NotFound("community"))?
            .into_settings())
    }

    /// Applies an admin's changes to their community.
    pub async fn update_community(
        &self,
        admin: &Principal,
        changes: CommunityChanges,
    ) -> Result<CommunitySettings> {
        admin.require(&[Role::Admin])?;
        let mut settings = self.settings_of(&admin.community_id).await?;
        if let Some(name) = changes.name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(AuthError::Invalid(
                    "community name must be 1 to 100 characters".into(),
                ));
            }
            settings.name = name.to_string();
        }
        if let Some(slug) = changes.slug {
            if slug.trim().is_empty() {
                return Err(AuthError::Invalid("slug must not be empty".into()));
            }
            let slug = slugify(&slug);
            if slug.chars().count() > 100 {
                return Err(AuthError::Invalid(
                    "slug must be at most 100 characters".into(),
                ));
            }
            settings.slug = slug;
        }
        if let Some(language) = changes.default_language {
            settings.default_language = language_tag(&language)?;
        }
        if let Some(registration) = changes.registration {
            settings.registration = registration;
        }
        self.store()
            .update_community_settings(&settings, Utc::now())
            .await?;
        self.bus()
            .publish(AuthEvent::community_settings_changed(admin, &settings));
        self.report_admin_action(
            admin,
            AuthSecurityKind::CommunityChanged,
            format!(
                "name {:?}, slug {}, language {}, registration {}",
                settings.name,
                settings.slug,
                settings.default_language,
                settings.registration.as_str()
            ),
        );
        Ok(settings)
    }

    /// The community a sign-up without an invite joins, if its registration is open: the one
    /// named (by name, slug or id), else the instance's only community.
    pub(super) async fn open_community(&self, named: Option<&str>) -> Result<Option<CommunityId>> {
        let id = match named.map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => self.store().community_by_name_slug_or_id(name).await?,
            None => self.sole_community().await?,
        };
        let Some(id) = id else {
            return Ok(None);
        };
        let settings = self.settings_of(&id).await?;
        Ok((settings.registration == Registration::Open).then_some(id))
    }
}

impl AuthStore {
    async fn community_settings(&self, id: &CommunityId) -> Result<Option<SettingsRow>> {
        let row = query_as("SELECT id, name, slug, settings FROM communities WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db())
            .await?;
        Ok(row)
    }

    async fn community_by_name_slug_or_id(&self, name: &str) -> Result<Option<CommunityId>> {
        let id = query_scalar(
            "SELECT id FROM communities WHERE id = $1 OR name = $1 OR slug = $1 \
             ORDER BY (id = $1) DESC LIMIT 1",
        )
        .bind(name)
        .fetch_optional(self.db())
        .await?;
        Ok(id)
    }

    /// Writes the settings; a name or slug another community has is `community_taken` or
    /// `slug_taken`.
    async fn update_community_settings(
        &self,
        settings: &CommunitySettings,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let slug_taken: i64 =
            query_scalar("SELECT COUNT(*) FROM communities WHERE slug = $1 AND id <> $2")
                .bind(&settings.slug)
                .bind(&settings.id)
                .fetch_one(self.db())
                .await?;
        if slug_taken > 0 {
            return Err(AuthError::SlugTaken);
        }
        let stored = Stored {
            default_language: Some(settings.default_language.clone()),
            registration: settings.registration,
        };
        let json = serde_json::to_string(&stored)
            .map_err(|e| AuthError::Internal(format!("community settings: {e}")))?;
        let updated = query(
            "UPDATE communities SET name = $2, slug = $3, settings = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(&settings.id)
        .bind(&settings.name)
        .bind(&settings.slug)
        .bind(json)
        .bind(now)
        .execute(self.db())
        .await;
        match updated {
            Ok(_) => Ok(()),
            // The name (or, in a race, the slug) belongs to another community.
            Err(e) if is_unique_violation(&e) => Err(AuthError::CommunityTaken),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::auth::{ClientInfo, SignUp};
    use crate::db::testing::{Fixture, PASSWORD};

    fn sign_up(email: &str, community: Option<&str>) -> SignUp {
        SignUp {
            email: email.into(),
            password: PASSWORD.into(),
            community_name: community.map(Into::into),
            invite_code: None,
        }
    }

    #[tokio::test]
    async fn admins_edit_the_settings_and_sign_up_follows_registration() {
        let fx = Fixture::new().await;
        let admin = fx.sign_up("admin@example.org", Some("Aldeia")).await;
        let member = fx.invited(&admin, "member@example.org", Role::Member).await;
        let settings = fx.auth.community_settings(&member).await.unwrap();
        assert_eq!(
            (
                settings.name.as_str(),
                settings.slug.as_str(),
                settings.default_language.as_str()
            ),
            ("Aldeia", "aldeia", DEFAULT_LANGUAGE)
        );
        assert_eq!(settings.registration, Registration::InviteOnly);
        let client = ClientInfo::default();
        let refused = fx
            .auth
            .sign_up(sign_up("new@example.org", None), &client)
            .await;
        assert!(
            matches!(refused, Err(AuthError::InviteRequired)),
            "{refused:?}"
        );

        assert!(matches!(
            fx.auth
                .update_community(&member, CommunityChanges::default())
                .await,
            Err(AuthError::Forbidden)
        ));
        let bad_language = CommunityChanges {
            default_language: Some("portuguese".into()),
            ..Default::default()
        };
        assert!(matches!(
            fx.auth.update_community(&admin, bad_language).await,
            Err(AuthError::Invalid(_))
        ));
        let changed = fx
            .auth
            .update_community(
                &admin,
                CommunityChanges {
                    name: Some(" Aldeia Nova ".into()),
                    slug: Some("Aldeia Nova!".into()),
                    default_language: Some("pt-BR".into()),
                    registration: Some(Registration::Open),
                },
            )
            .await
            .unwrap();
        assert_eq!(changed.name, "Aldeia Nova");
        assert_eq!(changed.slug, "aldeia-nova");
        assert_eq!(fx.auth.community_settings(&admin).await.unwrap(), changed);
        assert_eq!(
            fx.auth.community_id_by_slug("aldeia-nova").await.unwrap(),
            Some(admin.community_id.clone())
        );

        // Open: a sign-up without an invite joins as a member, by slug or as the only community.
        let joined = fx
            .auth
            .sign_up(sign_up("new@example.org", Some("aldeia-nova")), &client)
            .await
            .unwrap();
        assert_eq!(joined.user.role, Role::Member);
        assert_eq!(joined.community.id, admin.community_id);
        fx.auth
            .sign_up(sign_up("other@example.org", None), &client)
            .await
            .unwrap();

        // Another community's name and slug are taken.
        fx.auth
            .create_user("boss@example.org", PASSWORD.into(), Role::Admin, "Outra")
            .await
            .unwrap();
        let slug = CommunityChanges {
            slug: Some("outra".into()),
            ..Default::default()
        };
        assert!(matches!(
            fx.auth.update_community(&admin, slug).await,
            Err(AuthError::SlugTaken)
        ));
        let name = CommunityChanges {
            name: Some("Outra".into()),
            ..Default::default()
        };
        assert!(matches!(
            fx.auth.update_community(&admin, name).await,
            Err(AuthError::CommunityTaken)
        ));
        // With two communities, an open sign-up must name one.
        let unnamed = fx
            .auth
            .sign_up(sign_up("third@example.org", None), &client)
            .await;
        assert!(
            matches!(unnamed, Err(AuthError::InviteRequired)),
            "{unnamed:?}"
        );
    }
}
