//! The reference evaluator: the decision rule applied literally, by scanning every rule in file
//! order. [`Policy::decide`] must always agree with it; the tests here check that on generated
//! policies and requests.

use crate::path::with_components;
use crate::{Access, Decision, Effect, Peer, Policy};

/// Decides like [`Policy::decide`], without the index: the first deny rule in file order that
/// applies to `peer`, has a pattern matching `path` and names a requested word; else the first
/// allow rule that applies, matches and grants every requested word; else the default deny.
pub(crate) fn decide<'p>(
    policy: &'p Policy,
    peer: &Peer<'_>,
    path: &[u8],
    access: Access,
) -> Decision<'p> {
    let default = Decision::Deny(None);
    let Some(path) = with_components(path, <[&[u8]]>::to_vec) else {
        return default;
    };
    if access.is_empty() {
        return default;
    }
    let first = |effect: Effect, access_fits: &dyn Fn(Access) -> bool| {
        policy.rules().iter().find(|r| {
            r.effect() == effect
                && access_fits(r.decides())
                && r.subjects.apply_to(peer)
                && r.paths.iter().any(|p| p.matches(&path))
        })
    };
    if let Some(rule) = first(Effect::Deny, &|named| named.intersects(access)) {
        return Decision::Deny(Some(rule));
    }
    match first(Effect::Allow, &|granted| granted.contains(access)) {
        Some(rule) => Decision::Allow(rule),
        None => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{Rng, large_policy, last_tenant, random_policy, random_request};
    use crate::testing::policy;

    /// Asserts that the compiled and the reference evaluator decide the request alike (same
    /// verdict, same deciding rule) and returns the decision as text.
    fn agree(p: &Policy, peer: &Peer<'_>, path: &str, access: Access) -> String {
        let compiled = p.decide(peer, path.as_bytes(), access);
        let reference = decide(p, peer, path.as_bytes(), access);
        let rule = |d: Decision<'_>| d.rule().map(std::ptr::from_ref);
        assert!(
            compiled.is_allowed() == reference.is_allowed() && rule(compiled) == rule(reference),
            "{peer:?} {path} {access}: compiled {compiled}, reference {reference}\n{:#?}",
            p.rules()
        );
        compiled.to_string()
    }

    #[test]
    fn compiled_decisions_equal_the_reference_on_generated_policies() {
        let mut rng = Rng::new(1);
        for _ in 0..1500 {
            let p = policy(&random_policy(&mut rng));
            for _ in 0..100 {
                let (uid, gid, groups, path, access) = random_request(&mut rng);
                let peer = Peer {
                    uid,
                    gid,
                    groups: &groups,
                    process: None,
                    namespace: Default::default(),
                };
                agree(&p, &peer, &path, access);
            }
        }
    }

    #[test]
    fn a_10000_rule_policy_decides_like_the_reference() {
        let n = 10_000;
        let p = policy(&large_policy(n));
        assert_eq!(p.rules().len(), n);
        let (t, owner) = last_tenant(n);
        let allow = |i: usize| format!("allow (rule \"rule-{i}\")");
        let deny = |i: usize| format!("deny (rule \"rule-{i}\")");
        let default = "deny (no rule matched: default deny)";
        let id = |i: usize| u32::try_from(i).expect("small id");
        let (read, list, write) = (Access::READ, Access::LIST, Access::WRITE);

        let uploads = format!("/srv/tenant{t}/uploads");
        assert_eq!(
            agree(&p, &owner, &format!("{uploads}/a/b.pdf"), read),
            allow(t)
        );
        assert_eq!(agree(&p, &owner, &uploads, list), allow(t));
        assert_eq!(agree(&p, &owner, &uploads, write), default);
        // `/**/core.8009` (a deny for everyone) wins over the owner's earlier allow.
        let core = format!("{uploads}/x/core.8009");
        assert_eq!(agree(&p, &owner, &core, read), deny(8009));
        let secret = format!("/srv/tenant{}/uploads/secret/k", t - 8);
        assert_eq!(agree(&p, &owner, &secret, read), deny(t - 5));
        let other = Peer {
            uid: id(1000 + t),
            ..owner
        };
        assert_eq!(
            agree(&p, &other, "/srv/tenant-none/uploads/a", read),
            default
        );
        assert_eq!(agree(&p, &other, "/srv/tenant8/uploads/a", read), default);
        assert_eq!(agree(&p, &owner, "/opt/none/x", read), default);
        let spool = Peer {
            uid: 1,
            gid: id(5000 + (t + 2) % 500),
            groups: &[],
            process: None,
            namespace: Default::default(),
        };
        let queue = format!("/var/spool/q{}/x/in/a/b", t + 2);
        assert_eq!(agree(&p, &spool, &queue, write), allow(t + 2));

        // Every kind of rule (499 is 3 mod 8, so the steps visit all eight kinds), for its own
        // client and for a neighbour.
        for i in (0..n).step_by(499) {
            let groups = [id(5000 + i % 500)];
            for uid in [id(1000 + i), id(1000 + (i ^ 1))] {
                let peer = Peer {
                    uid,
                    gid: 1,
                    groups: &groups,
                    process: None,
                    namespace: Default::default(),
                };
                for path in [
                    format!("/srv/tenant{i}/uploads/secret/s"),
                    format!("/srv/tenant{i}/shared/a/b"),
                    format!("/home/user{i}/n.txt"),
                    format!("/home/user{i}/.ssh/n.txt"),
                    format!("/var/spool/q{i}/z/out/m.msg"),
                    format!("/data/d{}/f{i}.bin", i % 100),
                    format!("/tmp/core.{}", i / 2000 * 2000 + 9),
                ] {
                    for access in [read, list, write, Access::WRITE | Access::CREATE] {
                        agree(&p, &peer, &path, access);
                    }
                }
            }
        }
    }
}
