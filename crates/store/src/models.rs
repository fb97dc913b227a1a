//! Store-only records that are no domain model: the sign-in throttle's counters. The domain
//! records (users, clients, keys...) are `tessera_core::model`; their rows are private.

use diesel::prelude::*;

use crate::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_throttle)]
pub struct ThrottleEntry {
    pub realm_id: String,
    pub throttle_key: String,
    pub failures: i64,
    pub window_started_at: i64,
    pub locked_until: Option<i64>,
}
