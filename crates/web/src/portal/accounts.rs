//! Developer accounts by e-mail address: read once at start, then kept in step with the store's
//! change feed (this node's writes and, on a shared store, every node's), so that a sign-in or a
//! sign-up reads one account, not every account (22 to 182 ms per sign-in with 100 large
//! accounts). A feed that lags (changes lost) reads everything again.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use komainu_model::{DeveloperAccount, Kind};
use komainu_store::Store;
use tokio::sync::broadcast::error::RecvError;

#[derive(Default)]
struct Maps {
    by_email: HashMap<String, String>,
    email_of: HashMap<String, String>,
}

impl Maps {
    fn set(&mut self, id: &str, email: &str) {
        self.remove(id);
        self.by_email.insert(email.into(), id.into());
        self.email_of.insert(id.into(), email.into());
    }

    fn remove(&mut self, id: &str) {
        if let Some(email) = self.email_of.remove(id)
            && self.by_email.get(&email).is_some_and(|i| i == id)
        {
            self.by_email.remove(&email);
        }
    }
}

/// The index, shared by the portal's handlers and the task that follows the feed.
#[derive(Clone, Default)]
pub struct Accounts(Arc<RwLock<Maps>>);

impl Accounts {
    /// The index of `store`'s accounts, followed on a task of its own.
    pub async fn follow(store: Arc<dyn Store>) -> Accounts {
        let index = Accounts::default();
        let feed = store.changes();
        index.reload(&*store).await;
        tokio::spawn(index.clone().run(store, feed));
        index
    }

    async fn reload(&self, store: &dyn Store) {
        let all = komainu_store::load_all::<DeveloperAccount>(store, Kind::Developer)
            .await
            .unwrap_or_default();
        let mut maps = Maps::default();
        for a in &all {
            maps.set(&a.id, &a.email);
        }
        *self.0.write().expect("accounts lock") = maps;
    }

    async fn run(
        self,
        store: Arc<dyn Store>,
        mut feed: tokio::sync::broadcast::Receiver<komainu_store::Change>,
    ) {
        loop {
            match feed.recv().await {
                Ok(change) if change.kind != Kind::Developer => {}
                Ok(change) => match change.id {
                    Some(id) => self.refresh(&*store, &id).await,
                    None => self.reload(&*store).await,
                },
                Err(RecvError::Lagged(_)) => self.reload(&*store).await,
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn refresh(&self, store: &dyn Store, id: &str) {
        let doc = store.get(Kind::Developer, id).await.ok().flatten();
        let account = doc.and_then(|d| komainu_model::parse::<DeveloperAccount>(&d).ok());
        let mut maps = self.0.write().expect("accounts lock");
        match account {
            Some(a) => maps.set(&a.id, &a.email),
            None => maps.remove(id),
        }
    }

    /// Indexes an account this node has just written, before the feed brings the change.
    pub fn note(&self, id: &str, email: &str) {
        self.0.write().expect("accounts lock").set(id, email);
    }

    /// The id of the account with `email` (lower case, trimmed), if the index knows one.
    pub fn id_of(&self, email: &str) -> Option<String> {
        let email = email.trim().to_ascii_lowercase();
        self.0
            .read()
            .expect("accounts lock")
            .by_email
            .get(&email)
            .cloned()
    }
}

/// The account with `email`: found in the index, read from the store.
pub(crate) async fn find(web: &crate::Web, email: &str) -> Option<DeveloperAccount> {
    let id = web.0.accounts.id_of(email)?;
    let doc = web.0.store.get(Kind::Developer, &id).await.ok()??;
    let account = komainu_model::parse::<DeveloperAccount>(&doc).ok()?;
    (account.email == email.trim().to_ascii_lowercase()).then_some(account)
}
