// Package iam evaluates AWS IAM identity-based policies the way AWS documents it
// ("Policy evaluation logic", IAM User Guide), so the sandbox can hold each function to
// exactly the permissions the synthesized template grants its role.
//
// No maintained Go library evaluates identity policies (searched: micahhausler/aws-iam-policy
// and n4ch04/aws-policy only parse documents; utgwkk/aws-iam-policy-sim calls the IAM
// simulator API of a real account; va1da5/aws-iam-policy-engine is a learning project;
// cloud-copilot/iam-simulate is TypeScript), so this package is written small:
//
//   - Documents are read as CloudFormation emits them after intrinsic functions are
//     resolved: Statement is an object or a list; Action, NotAction, Resource and
//     NotResource are a string or a list; condition values are a string, a boolean, a
//     number or a list of those.
//   - A request is denied when any statement with Effect Deny applies (explicit deny), else
//     allowed when any statement with Effect Allow applies, else denied (implicit deny).
//   - Actions match case-insensitively with the wildcards * and ?; resources match
//     case-sensitively per ARN segment, a * that ends a segment may run over the colons
//     that follow it (IAM JSON policy elements: Resource).
//   - Conditions: StringEquals, StringNotEquals, StringEqualsIgnoreCase,
//     StringNotEqualsIgnoreCase, StringLike, StringNotLike, ArnEquals, ArnLike,
//     ArnNotEquals, ArnNotLike, Bool, Null, each (but Null) also with IfExists; keys are
//     case-insensitive, blocks are and-ed, values of one key or-ed. An operator this
//     package does not know (numeric, date, IP, ForAnyValue/ForAllValues sets) never
//     makes a statement grant: an Allow statement with it does not apply and a Deny
//     statement with it does, so doubt denies.
//
// Principals, resource policies, permission boundaries, SCPs and session policies are out
// of scope: the sandbox checks identity policies, and resource policies are asserted on
// the template instead.
package iam
