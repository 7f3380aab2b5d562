//! The scenario loader's tests: good scenarios, every problem located.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::drill::scenario::{Action, DEFAULT_WITHIN, Scenario};

fn token_artifact() -> String {
    argus_testkit::testdata("foundry-project/out/Token.sol/Token.json")
        .display()
        .to_string()
}

#[test]
fn a_good_scenario_loads_with_its_steps() {
    let text = format!(
        r#"
name: drain
accounts: {{ deployer: 0, attacker: 3 }}
deploy:
  - {{ label: Token, artifact: "{}", args: [T, T, "1e24"], from: deployer }}
steps:
  - send: {{ from: deployer, to: Token, function: "transfer(address,uint256)", args: [attacker, "5e23"] }}
  - warp: 5m
  - expect: {{ alert: {{ rule: large-outflow }}, call: {{ to: Token, function: "balanceOf(address)", args: [attacker], equals: "5e23" }} }}
"#,
        token_artifact()
    );
    let scenario = Scenario::parse(Path::new("s.yaml"), &text).expect("loads");
    assert_eq!(scenario.name, "drain");
    assert_eq!(scenario.deploy.len(), 1);
    assert_eq!(scenario.steps.len(), 3);
    assert_eq!(scenario.steps[2].line, 9);
    let Action::Expect(expect) = &scenario.steps[2].action else {
        panic!("an expect step");
    };
    let call = expect.call.as_ref().expect("a call");
    assert_eq!(call.output_types, vec![DynSolType::Uint(256)]);
    assert_eq!(
        expect.alert.as_ref().map(|a| a.within),
        Some(DEFAULT_WITHIN)
    );
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let text = format!(
        r#"name: bad
accounts: {{ deployer: 0, who: nope }}
deploy:
  - {{ label: Token, artifact: "{}", args: [T], from: deployer }}
  - {{ label: Gone, artifact: missing.json, from: deployer }}
steps:
  - send: {{ from: stranger, to: Token, function: "transfer(address,uint256)", args: [nobody, 1] }}
  - send: {{ from: deployer, to: Token, function: "mintt(uint256)", args: [1] }}
  - jump: 3
  - expect: {{ call: {{ to: Token, function: "paused()", equals: 7 }} }}
  - expect: {{}}
"#,
        token_artifact()
    );
    let error = Scenario::parse(Path::new("s.yaml"), &text).expect_err("refused");
    let text = error.to_string();
    let lines: Vec<u64> = error.0.iter().map(|d| d.line).collect();
    assert!(text.contains("accounts.who"), "{text}");
    assert!(text.contains("takes 3 arguments, 1 given"), "{text}");
    assert!(text.contains("missing.json"), "{text}");
    assert!(text.contains("`stranger` is not in `accounts:`"), "{text}");
    assert!(text.contains("`nobody` is neither"), "{text}");
    assert!(
        text.contains("Token has no function mintt(uint256)"),
        "{text}"
    );
    assert!(text.contains("unknown variant `jump`"), "{text}");
    assert!(text.contains("expect.call.equals"), "{text}");
    assert!(text.contains("say what must hold"), "{text}");
    assert_eq!(lines, vec![2, 4, 5, 7, 7, 8, 9, 10, 11], "{text}");
    assert!(text.starts_with("9 problems"), "{text}");
    assert!(error.0.iter().all(|d| d.file == "s.yaml"));
}

#[test]
fn a_yaml_error_has_its_position() {
    let error = Scenario::parse(Path::new("s.yaml"), "name: x\nsteps: [\n").expect_err("bad");
    assert_eq!(error.0.len(), 1);
    assert!(error.0[0].line >= 2, "{}", error);
    let error = Scenario::parse(Path::new("s.yaml"), "name: x\nstepz: []\n").expect_err("bad");
    assert_eq!((error.0[0].line, error.0[0].column), (2, 1), "{error}");
}
