//! [`AccountRepository`] over the `accounts` table.

use diesel::prelude::*;
use yagona_account::{Account, AccountError, AccountId, AccountRepository, Login, NewAccount};

use crate::rows::AccountRow;
use crate::schema::accounts;
use crate::{Store, StoreError};

impl AccountRepository for Store {
    fn insert_account(&self, account: &NewAccount) -> Result<(), AccountError> {
        let row = AccountRow::from(account.account());
        let result = diesel::insert_into(accounts::table)
            .values(&row)
            .execute(&mut *self.conn()?)
            .map_err(StoreError::from);
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_unique_violation() => {
                if e.database_message().contains("pinfl") {
                    Err(AccountError::PinflTaken)
                } else {
                    Err(AccountError::LoginTaken)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn find_account_by_login(&self, login: &Login) -> Result<Option<Account>, AccountError> {
        let row = accounts::table
            .filter(accounts::login.eq(login.as_str()))
            .first::<AccountRow>(&mut *self.conn()?)
            .optional()
            .map_err(StoreError::from)?;
        Ok(row.map(Account::try_from).transpose()?)
    }

    fn find_account(&self, id: &AccountId) -> Result<Option<Account>, AccountError> {
        let row = accounts::table
            .find(id.as_str())
            .first::<AccountRow>(&mut *self.conn()?)
            .optional()
            .map_err(StoreError::from)?;
        Ok(row.map(Account::try_from).transpose()?)
    }

    fn list_accounts(&self) -> Result<Vec<Account>, AccountError> {
        let rows = accounts::table
            .order(accounts::login.asc())
            .load::<AccountRow>(&mut *self.conn()?)
            .map_err(StoreError::from)?;
        Ok(rows
            .into_iter()
            .map(Account::try_from)
            .collect::<Result<_, _>>()?)
    }
}
