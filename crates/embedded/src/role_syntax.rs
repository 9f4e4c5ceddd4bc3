//! Role statements read from sqlparser's tree: `CREATE ROLE|USER|GROUP`
//! (`Statement::CreateRole`), `ALTER ROLE|USER` (`Statement::AlterRole`), `DROP
//! ROLE|USER|GROUP`, `GRANT role TO role` (`Statement::GrantRole`), `REVOKE role FROM
//! role` (`Statement::RevokeRole`) and `ALTER GROUP .. ADD|DROP USER` (read by
//! [`script`](crate::script)), turned into [`RoleStmt`] with PostgreSQL's checks that
//! its grammar makes (reserved names, conflicting options, identifier truncation).

use sqlparser::ast::{
    AlterRoleOperation, CreateRole, Expr, GranteeName, GranteesType, Ident, ObjectName,
    ObjectNamePart, ObjectType, Password, RoleGrantOptionValue, RoleOption as AstOption, Statement,
    UnaryOperator, Value,
};
use zeroize::Zeroizing;

use crate::ddl::{MAX_NAME_LEN, PasswordChange, RoleOption, RoleSpec, RoleStmt, check_not_special};
use crate::error::{Notice, SqlError, sqlstate};
use crate::script::{Command, PasswordCommand};
use crate::timestamp::Timestamp;

/// Whether `cmd` is a role statement (or a GRANT/REVOKE, refused on objects).
pub(crate) fn is_role_statement(cmd: &Command) -> bool {
    match cmd.statement() {
        None => true,
        Some(stmt) => matches!(
            stmt,
            Statement::CreateRole(_)
                | Statement::AlterRole { .. }
                | Statement::Drop {
                    object_type: ObjectType::Role | ObjectType::User | ObjectType::Group,
                    ..
                }
                | Statement::GrantRole(_)
                | Statement::RevokeRole(_)
                | Statement::Grant(_)
                | Statement::Revoke(_)
        ),
    }
}

/// Reads a role statement; `None` when `cmd` is not one. The notices are PostgreSQL's
/// identifier-truncation NOTICEs.
pub(crate) fn read(cmd: &Command) -> Option<Result<(RoleStmt, Vec<Notice>), SqlError>> {
    let mut r = Reader {
        notices: Vec::new(),
    };
    let stmt = match cmd {
        Command::AlterGroup { group, add, users } => r.alter_group(group, *add, users),
        Command::Passwords { role, change } => r.passwords(role, change),
        Command::Sql(stmt) => match &**stmt {
            Statement::CreateRole(c) => r.create(c),
            Statement::AlterRole { name, operation } => r.alter(name, operation),
            Statement::Drop {
                object_type: ObjectType::Role | ObjectType::User | ObjectType::Group,
                if_exists,
                names,
                ..
            } => r.drop(*if_exists, names),
            Statement::GrantRole(g) => r.grant(g),
            Statement::RevokeRole(rv) => r.revoke(rv),
            Statement::Grant(_) | Statement::Revoke(_) => Err(SqlError::unsupported(
                "GRANT and REVOKE on tables and other objects are not supported by the embedded database; only role membership is",
            )),
            _ => return None,
        },
    };
    Some(stmt.map(|s| (s, r.notices)))
}

/// A role attribute option (`LOGIN`/`NOLOGIN`, ...).
type Flag = fn(bool) -> RoleOption;

struct Reader {
    notices: Vec<Notice>,
}

fn syntax_near(what: impl std::fmt::Display) -> SqlError {
    SqlError::syntax(format!("syntax error at or near \"{what}\""))
}

impl Reader {
    /// An identifier as PostgreSQL folds it, truncated to 63 bytes with its NOTICE.
    fn name(&mut self, id: &Ident) -> String {
        let name = crate::tree::ident_name(id);
        if name.len() <= MAX_NAME_LEN {
            return name;
        }
        let mut cut = MAX_NAME_LEN;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let short = name[..cut].to_owned();
        self.notices.push(Notice {
            code: sqlstate::NAME_TOO_LONG,
            ..Notice::plain(format!(
                "identifier \"{name}\" will be truncated to \"{short}\""
            ))
        });
        short
    }

    fn names(&mut self, ids: &[Ident]) -> Vec<String> {
        ids.iter().map(|i| self.name(i)).collect()
    }

    /// A role being created or renamed to: not PUBLIC, NONE or CURRENT_USER unquoted.
    fn new_name(&mut self, id: &Ident) -> Result<String, SqlError> {
        let name = self.name(id);
        if id.quote_style.is_none() {
            check_not_special(&name)?;
        }
        Ok(name)
    }

    fn spec(&mut self, id: &Ident) -> RoleSpec {
        let name = self.name(id);
        if id.quote_style.is_none()
            && matches!(
                name.as_str(),
                "current_user" | "current_role" | "session_user"
            )
        {
            RoleSpec::Current
        } else {
            RoleSpec::Name(name)
        }
    }

    fn specs(&mut self, ids: &[Ident]) -> Vec<RoleSpec> {
        ids.iter().map(|i| self.spec(i)).collect()
    }

    fn create(&mut self, c: &CreateRole) -> Result<RoleStmt, SqlError> {
        if c.if_not_exists {
            return Err(syntax_near("IF"));
        }
        if c.authorization_owner.is_some() {
            return Err(syntax_near("AUTHORIZATION"));
        }
        let name = match c.names.as_slice() {
            [one] => self.new_name(single(one)?)?,
            [_, second, ..] => return Err(syntax_near(second)),
            [] => return Err(SqlError::syntax("syntax error at end of input")),
        };
        let mut options = Vec::new();
        let flags: [(Option<bool>, Flag); 7] = [
            (c.superuser, RoleOption::Superuser),
            (c.create_db, RoleOption::CreateDb),
            (c.create_role, RoleOption::CreateRole),
            (c.inherit, RoleOption::Inherit),
            (c.login, RoleOption::Login),
            (c.replication, RoleOption::Replication),
            (c.bypassrls, RoleOption::BypassRls),
        ];
        options.extend(flags.into_iter().filter_map(|(v, f)| v.map(f)));
        if let Some(p) = &c.password {
            options.push(password(p)?);
        }
        if let Some(e) = &c.connection_limit {
            options.push(RoleOption::ConnLimit(signed_int(e)?));
        }
        if let Some(e) = &c.valid_until {
            options.push(valid_until(e)?);
        }
        let in_role: Vec<Ident> = c.in_role.iter().chain(&c.in_group).cloned().collect();
        if !in_role.is_empty() {
            options.push(RoleOption::InRole(self.names(&in_role)));
        }
        let members: Vec<Ident> = c.role.iter().chain(&c.user).cloned().collect();
        if !members.is_empty() {
            options.push(RoleOption::Role(self.names(&members)));
        }
        if !c.admin.is_empty() {
            options.push(RoleOption::Admin(self.names(&c.admin)));
        }
        Ok(RoleStmt::Create { name, options })
    }

    fn alter(&mut self, name: &Ident, op: &AlterRoleOperation) -> Result<RoleStmt, SqlError> {
        if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
            return Err(SqlError::unsupported(
                "ALTER ROLE ALL is not supported by the embedded database",
            ));
        }
        let target = self.spec(name);
        match op {
            AlterRoleOperation::RenameRole { role_name } => Ok(RoleStmt::Rename {
                target,
                new_name: self.new_name(role_name)?,
            }),
            AlterRoleOperation::WithOptions { options } => {
                let mut out: Vec<RoleOption> = Vec::with_capacity(options.len());
                for o in options {
                    let opt = match o {
                        AstOption::BypassRLS(b) => RoleOption::BypassRls(*b),
                        AstOption::ConnectionLimit(e) => RoleOption::ConnLimit(signed_int(e)?),
                        AstOption::CreateDB(b) => RoleOption::CreateDb(*b),
                        AstOption::CreateRole(b) => RoleOption::CreateRole(*b),
                        AstOption::Inherit(b) => RoleOption::Inherit(*b),
                        AstOption::Login(b) => RoleOption::Login(*b),
                        AstOption::Password(p) => password(p)?,
                        AstOption::Replication(b) => RoleOption::Replication(*b),
                        AstOption::SuperUser(b) => RoleOption::Superuser(*b),
                        AstOption::ValidUntil(e) => valid_until(e)?,
                    };
                    if out.iter().any(|o| o.kind() == opt.kind()) {
                        return Err(SqlError::syntax("conflicting or redundant options"));
                    }
                    out.push(opt);
                }
                Ok(RoleStmt::Alter {
                    target,
                    options: out,
                })
            }
            AlterRoleOperation::Set { .. } | AlterRoleOperation::Reset { .. } => {
                Err(SqlError::unsupported(
                    "per-role configuration (ALTER ROLE ... SET) is not supported by the embedded database",
                ))
            }
            other => Err(syntax_near(other)),
        }
    }

    fn passwords(&mut self, role: &Ident, change: &PasswordCommand) -> Result<RoleStmt, SqlError> {
        let change = match change {
            PasswordCommand::Add {
                which,
                password,
                valid_until,
            } => PasswordChange::Add {
                which: *which,
                password: password.clone(),
                valid_until: valid_until.as_deref().map(timestamp).transpose()?,
            },
            PasswordCommand::Drop(which) => PasswordChange::Drop(*which),
            PasswordCommand::ValidUntil { which, until } => PasswordChange::ValidUntil {
                which: *which,
                until: timestamp(until)?,
            },
        };
        Ok(RoleStmt::Passwords {
            target: self.spec(role),
            change,
        })
    }

    fn drop(&mut self, if_exists: bool, names: &[ObjectName]) -> Result<RoleStmt, SqlError> {
        let names = names
            .iter()
            .map(|n| single(n).map(|id| self.name(id)))
            .collect::<Result<_, _>>()?;
        Ok(RoleStmt::Drop { if_exists, names })
    }

    fn grantees(
        &mut self,
        grantees: &[sqlparser::ast::Grantee],
    ) -> Result<Vec<RoleSpec>, SqlError> {
        grantees
            .iter()
            .map(|g| match (&g.grantee_type, &g.name) {
                (GranteesType::Public, _) => Ok(RoleSpec::Name("public".into())),
                (GranteesType::None, Some(GranteeName::ObjectName(n))) => {
                    single(n).map(|id| self.spec(id))
                }
                _ => Err(syntax_near(g)),
            })
            .collect()
    }

    fn grant(&mut self, g: &sqlparser::ast::GrantRole) -> Result<RoleStmt, SqlError> {
        let mut admin = false;
        for o in &g.options {
            if !o.name.value.eq_ignore_ascii_case("admin") {
                return Err(SqlError::unsupported(
                    "only WITH ADMIN OPTION is supported for GRANT of roles",
                ));
            }
            admin = !matches!(o.value, RoleGrantOptionValue::False);
        }
        Ok(RoleStmt::Grant {
            roles: self.specs(&g.roles),
            members: self.grantees(&g.grantees)?,
            admin,
            tag: "GRANT ROLE",
        })
    }

    fn revoke(&mut self, r: &sqlparser::ast::RevokeRole) -> Result<RoleStmt, SqlError> {
        let admin_only = match &r.option_for {
            None => false,
            Some(o) if o.value.eq_ignore_ascii_case("admin") => true,
            Some(_) => {
                return Err(SqlError::unsupported(
                    "only ADMIN OPTION FOR is supported for REVOKE of roles",
                ));
            }
        };
        Ok(RoleStmt::Revoke {
            roles: self.specs(&r.roles),
            members: self.grantees(&r.grantees)?,
            admin_only,
            tag: "REVOKE ROLE",
        })
    }

    fn alter_group(
        &mut self,
        group: &Ident,
        add: bool,
        users: &[Ident],
    ) -> Result<RoleStmt, SqlError> {
        let roles = vec![self.spec(group)];
        let members = self.specs(users);
        Ok(if add {
            RoleStmt::Grant {
                roles,
                members,
                admin: false,
                tag: "ALTER ROLE",
            }
        } else {
            RoleStmt::Revoke {
                roles,
                members,
                admin_only: false,
                tag: "ALTER ROLE",
            }
        })
    }
}

/// A one-part name (`a`, not `s.a`).
fn single(n: &ObjectName) -> Result<&Ident, SqlError> {
    match n.0.as_slice() {
        [ObjectNamePart::Identifier(id)] => Ok(id),
        _ => Err(syntax_near(n)),
    }
}

/// A string literal's text, never printed in an error.
fn string(e: &Expr) -> Result<Zeroizing<String>, SqlError> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::NationalStringLiteral(s) => Ok(Zeroizing::new(s.clone())),
            Value::DollarQuotedString(d) => Ok(Zeroizing::new(d.value.clone())),
            Value::Number(n, _) => Err(syntax_near(n)),
            _ => Err(SqlError::syntax(
                "syntax error: a string literal was expected",
            )),
        },
        _ => Err(SqlError::syntax(
            "syntax error: a string literal was expected",
        )),
    }
}

fn password(p: &Password) -> Result<RoleOption, SqlError> {
    Ok(RoleOption::Password(match p {
        Password::NullPassword => None,
        Password::Password(e) => Some(string(e)?),
    }))
}

fn valid_until(e: &Expr) -> Result<RoleOption, SqlError> {
    timestamp(&string(e)?).map(RoleOption::ValidUntil)
}

/// `VALID UNTIL`'s text as a timestamp.
fn timestamp(text: &str) -> Result<Timestamp, SqlError> {
    Timestamp::parse(text)
        .map_err(|e| SqlError::new(sqlstate::INVALID_DATETIME_FORMAT, e.to_string()))
}

/// `CONNECTION LIMIT n` (n may be negative).
fn signed_int(e: &Expr) -> Result<i32, SqlError> {
    let (negative, inner) = match e {
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => (true, &**expr),
        other => (false, other),
    };
    let Expr::Value(v) = inner else {
        return Err(syntax_near(e));
    };
    let Value::Number(n, _) = &v.value else {
        return Err(syntax_near(e));
    };
    let v: i64 = n.parse().map_err(|_| syntax_near(n))?;
    i32::try_from(if negative { -v } else { v }).map_err(|_| {
        SqlError::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            "value is out of range for type integer",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script;

    fn parse(sql: &str) -> Result<(RoleStmt, Vec<Notice>), SqlError> {
        let mut v = script::parse(sql)?;
        assert_eq!(v.len(), 1);
        read(&v.pop().unwrap().command).expect("a role statement")
    }

    fn p(sql: &str) -> RoleStmt {
        parse(sql).unwrap().0
    }

    fn perr(sql: &str) -> SqlError {
        parse(sql).unwrap_err()
    }

    fn pw(s: &str) -> RoleOption {
        RoleOption::Password(Some(Zeroizing::new(s.to_owned())))
    }

    #[test]
    fn create_variants() {
        assert_eq!(
            p("CREATE ROLE Bob WITH LOGIN PASSWORD 'x' CONNECTION LIMIT -1"),
            RoleStmt::Create {
                name: "bob".into(),
                options: vec![RoleOption::Login(true), pw("x"), RoleOption::ConnLimit(-1)],
            }
        );
        assert_eq!(
            p("create user \"Mixed\" encrypted password 'y' in role a, b"),
            RoleStmt::Create {
                name: "Mixed".into(),
                options: vec![
                    RoleOption::Login(true),
                    pw("y"),
                    RoleOption::InRole(vec!["a".into(), "b".into()]),
                ],
            }
        );
        assert_eq!(
            p("create user u nologin"),
            RoleStmt::Create {
                name: "u".into(),
                options: vec![RoleOption::Login(false)],
            }
        );
        assert_eq!(
            p("create role r valid until '2030-01-01' password null"),
            RoleStmt::Create {
                name: "r".into(),
                options: vec![
                    RoleOption::Password(None),
                    RoleOption::ValidUntil(Timestamp::parse("2030-01-01").unwrap()),
                ],
            }
        );
        assert_eq!(
            p("create group g user a admin b"),
            RoleStmt::Create {
                name: "g".into(),
                options: vec![
                    RoleOption::Role(vec!["a".into()]),
                    RoleOption::Admin(vec!["b".into()]),
                ],
            }
        );
    }

    #[test]
    fn alter_rename_drop_grant_revoke() {
        assert_eq!(
            p("ALTER USER current_user PASSWORD 'z'"),
            RoleStmt::Alter {
                target: RoleSpec::Current,
                options: vec![pw("z")]
            }
        );
        assert_eq!(
            p(
                "ALTER ROLE \"SCRAM\" ENCRYPTED PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a:b' VALID UNTIL 'infinity' CONNECTION LIMIT 3"
            ),
            RoleStmt::Alter {
                target: RoleSpec::Name("SCRAM".into()),
                options: vec![
                    pw("SCRAM-SHA-256$4096:c2FsdA==$a:b"),
                    RoleOption::ValidUntil(Timestamp::parse("infinity").unwrap()),
                    RoleOption::ConnLimit(3),
                ]
            }
        );
        assert_eq!(
            p("alter role a rename to b"),
            RoleStmt::Rename {
                target: RoleSpec::Name("a".into()),
                new_name: "b".into()
            }
        );
        assert_eq!(
            p("drop role if exists a, \"B\""),
            RoleStmt::Drop {
                if_exists: true,
                names: vec!["a".into(), "B".into()]
            }
        );
        assert_eq!(
            p("grant a, b to c with admin option"),
            RoleStmt::Grant {
                roles: vec![RoleSpec::Name("a".into()), RoleSpec::Name("b".into())],
                members: vec![RoleSpec::Name("c".into())],
                admin: true,
                tag: "GRANT ROLE"
            }
        );
        assert_eq!(
            p("revoke admin option for a from c cascade"),
            RoleStmt::Revoke {
                roles: vec![RoleSpec::Name("a".into())],
                members: vec![RoleSpec::Name("c".into())],
                admin_only: true,
                tag: "REVOKE ROLE"
            }
        );
        assert_eq!(
            p("alter group g add user a"),
            RoleStmt::Grant {
                roles: vec![RoleSpec::Name("g".into())],
                members: vec![RoleSpec::Name("a".into())],
                admin: false,
                tag: "ALTER ROLE"
            }
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            perr("alter role a login nologin").message,
            "conflicting or redundant options"
        );
        assert_eq!(perr("create role public").code, sqlstate::RESERVED_NAME);
        assert_eq!(
            perr("create role current_user").code,
            sqlstate::RESERVED_NAME
        );
        assert_eq!(
            perr("alter role a set x = 1").code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(
            perr("grant select on t to a").code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(
            perr("create role a valid until 'never'").code,
            sqlstate::INVALID_DATETIME_FORMAT
        );
        assert_eq!(
            perr("create role a password 5").code,
            sqlstate::SYNTAX_ERROR
        );
        assert_eq!(
            perr("create role a connection limit 99999999999").code,
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        );
    }

    #[test]
    fn long_names_are_truncated_with_a_notice() {
        let long = "a".repeat(70);
        let (stmt, notices) = parse(&format!("create role {long}")).unwrap();
        assert_eq!(
            stmt,
            RoleStmt::Create {
                name: "a".repeat(63),
                options: vec![]
            }
        );
        assert_eq!(notices[0].code, sqlstate::NAME_TOO_LONG);
    }

    #[test]
    fn other_statements_are_not_role_statements() {
        for sql in ["CREATE TABLE t (a int)", "SELECT 1", "DROP TABLE t"] {
            let v = script::parse(sql).unwrap();
            assert!(read(&v[0].command).is_none(), "{sql}");
        }
    }

    #[test]
    fn debug_redacts_passwords() {
        let dbg = format!("{:?}", p("create role a password 'hunter2'"));
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }
}
