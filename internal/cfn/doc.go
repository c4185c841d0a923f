// Package cfn reads a synthesized CloudFormation template and deploys it on paper: it
// gives each logical resource the physical name CloudFormation would (the name its
// properties set, or <stack>-<LogicalId>-<suffix>), answers Ref and Fn::GetAtt for the
// resource types the ecrwarden stack uses, and resolves the intrinsic functions the CDK
// emits (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::If and the
// condition functions, Fn::Base64) and the pseudo parameters (AWS::AccountId,
// AWS::Region, AWS::Partition, AWS::URLSuffix, AWS::StackName, AWS::StackId,
// AWS::NoValue). The sandbox uses it to run each function with the environment and the
// IAM policies the template gives it, against emulated resources named as the template
// names them, so nothing about the stack is hard-coded in the tests.
package cfn
