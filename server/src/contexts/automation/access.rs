//! Who may see and control which entity. Admins control everything; for anyone else the most
//! specific grant decides — one on the entity, else one on its area — and without a grant the
//! role does: members control, guests view. A `none` grant hides an entity altogether.
//!
//! Every node keeps the community's grants in memory (loaded at start, replaced per user by
//! `automation.grants_changed`), so the socket and the bridge decide without a query.

use std::collections::HashMap;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use super::Entity;
use crate::contexts::auth::{Principal, Role};
use crate::ids::{CommunityId, UserId};

/// What someone may do with an entity, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    None,
    View,
    Control,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::View => "view",
            Access::Control => "control",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "none" => Access::None,
            "view" => Access::View,
            "control" => Access::Control,
            _ => return None,
        })
    }

    /// Without a grant: members control, guests view.
    fn of_role(role: Role) -> Self {
        match role {
            Role::Admin | Role::Member => Access::Control,
            Role::Guest => Access::View,
            Role::Device => Access::None,
        }
    }
}

/// What a grant is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantScope {
    /// One entity (`target` is its entity id).
    Entity,
    /// Every entity of an area (`target` is the area's name).
    Area,
}

impl GrantScope {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantScope::Entity => "entity",
            GrantScope::Area => "area",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "entity" => Some(GrantScope::Entity),
            "area" => Some(GrantScope::Area),
            _ => None,
        }
    }
}

/// One person's access to an entity or an area.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub user_id: UserId,
    pub scope: GrantScope,
    pub target: String,
    pub access: Access,
}

#[derive(Default)]
struct UserGrants {
    entities: HashMap<String, Access>,
    areas: HashMap<String, Access>,
}

impl UserGrants {
    fn of(grants: &[Grant]) -> Self {
        let mut user = UserGrants::default();
        for grant in grants {
            let map = match grant.scope {
                GrantScope::Entity => &mut user.entities,
                GrantScope::Area => &mut user.areas,
            };
            map.insert(grant.target.clone(), grant.access);
        }
        user
    }

    /// Whether anything is hidden from this person.
    fn hides_any(&self) -> bool {
        self.entities
            .values()
            .chain(self.areas.values())
            .any(|a| *a == Access::None)
    }
}

/// Every community's grants, per user.
#[derive(Default)]
pub(super) struct AccessRules {
    communities: RwLock<HashMap<CommunityId, HashMap<UserId, UserGrants>>>,
}

impl AccessRules {
    /// Replaces what is known of one person's grants.
    pub fn replace(&self, community_id: &CommunityId, user_id: &UserId, grants: &[Grant]) {
        let mut communities = self.communities.write().expect("grants lock");
        let users = communities.entry(community_id.clone()).or_default();
        if grants.is_empty() {
            users.remove(user_id);
        } else {
            users.insert(user_id.clone(), UserGrants::of(grants));
        }
    }

    /// The people of a community with grants.
    pub fn users(&self, community_id: &CommunityId) -> Vec<UserId> {
        let communities = self.communities.read().expect("grants lock");
        communities
            .get(community_id)
            .map(|users| users.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// What `principal` may do with `entity`.
    pub fn access(&self, principal: &Principal, entity: &Entity) -> Access {
        self.access_of(
            &principal.community_id,
            &principal.user_id,
            principal.role,
            &entity.entity_id,
            entity.area.as_deref(),
        )
    }

    pub fn access_of(
        &self,
        community_id: &CommunityId,
        user_id: &UserId,
        role: Role,
        entity_id: &str,
        area: Option<&str>,
    ) -> Access {
        if role == Role::Admin {
            return Access::Control;
        }
        let communities = self.communities.read().expect("grants lock");
        let granted = communities
            .get(community_id)
            .and_then(|users| users.get(user_id))
            .and_then(|user| {
                user.entities
                    .get(entity_id)
                    .or_else(|| area.and_then(|area| user.areas.get(area)))
            });
        granted.copied().unwrap_or_else(|| Access::of_role(role))
    }

    /// Whether anything is hidden from `user_id` (their `home:` join is then their own).
    pub fn is_restricted(&self, community_id: &CommunityId, user_id: &UserId) -> bool {
        let communities = self.communities.read().expect("grants lock");
        communities
            .get(community_id)
            .and_then(|users| users.get(user_id))
            .is_some_and(UserGrants::hides_any)
    }

    /// Of the people something is hidden from, who may see `entity` and who may not.
    pub fn audience(&self, entity: &Entity) -> (Vec<UserId>, Vec<UserId>) {
        let communities = self.communities.read().expect("grants lock");
        let (mut viewers, mut hidden) = (Vec::new(), Vec::new());
        for (user_id, grants) in communities.get(&entity.community_id).into_iter().flatten() {
            if !grants.hides_any() {
                continue;
            }
            let access = grants
                .entities
                .get(&entity.entity_id)
                .or_else(|| entity.area.as_deref().and_then(|a| grants.areas.get(a)));
            // A restricted person's role never hides anything by itself.
            if access == Some(&Access::None) {
                hidden.push(user_id.clone());
            } else {
                viewers.push(user_id.clone());
            }
        }
        (viewers, hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::automation::EntityKind;
    use crate::ids::EntityRowId;

    fn entity(community: &CommunityId, entity_id: &str, area: Option<&str>) -> Entity {
        Entity {
            id: EntityRowId::new(),
            community_id: community.clone(),
            entity_id: entity_id.into(),
            device_id: None,
            kind: EntityKind::Switch,
            name: entity_id.into(),
            unit: None,
            device_class: None,
            state_class: None,
            area: area.map(Into::into),
            state: None,
            attributes: Default::default(),
            last_changed: None,
            last_updated: None,
        }
    }

    fn grant(user: &UserId, scope: GrantScope, target: &str, access: Access) -> Grant {
        Grant {
            user_id: user.clone(),
            scope,
            target: target.into(),
            access,
        }
    }

    #[test]
    fn the_most_specific_grant_wins_and_roles_decide_without_one() {
        let rules = AccessRules::default();
        let community = CommunityId::new();
        let (kid, guest) = (UserId::new(), UserId::new());
        let lamp = entity(&community, "light.kids_lamp", Some("Kids room"));
        let heater = entity(&community, "switch.heater", Some("Kids room"));
        let door = entity(&community, "binary_sensor.front_door", None);
        rules.replace(
            &community,
            &kid,
            &[
                grant(&kid, GrantScope::Area, "Kids room", Access::View),
                grant(&kid, GrantScope::Entity, "light.kids_lamp", Access::Control),
                grant(
                    &kid,
                    GrantScope::Entity,
                    "binary_sensor.front_door",
                    Access::None,
                ),
            ],
        );
        let access = |user: &UserId, role, e: &Entity| {
            rules.access_of(&community, user, role, &e.entity_id, e.area.as_deref())
        };
        assert_eq!(access(&kid, Role::Member, &lamp), Access::Control);
        assert_eq!(access(&kid, Role::Member, &heater), Access::View);
        assert_eq!(access(&kid, Role::Member, &door), Access::None);
        assert_eq!(access(&guest, Role::Guest, &heater), Access::View);
        assert_eq!(access(&guest, Role::Member, &heater), Access::Control);
        assert_eq!(access(&kid, Role::Admin, &door), Access::Control);
        assert!(rules.is_restricted(&community, &kid));
        assert!(!rules.is_restricted(&community, &guest));
        assert_eq!(rules.audience(&lamp), (vec![kid.clone()], vec![]));
        assert_eq!(rules.audience(&door), (vec![], vec![kid.clone()]));
        rules.replace(&community, &kid, &[]);
        assert_eq!(access(&kid, Role::Member, &door), Access::Control);
        assert!(!rules.is_restricted(&community, &kid));
    }
}
