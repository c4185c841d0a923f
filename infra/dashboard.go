package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecrwarden/ecrwarden/internal/metrics"
)

// envMetricsNamespace is where the functions write their EMF metrics.
const envMetricsNamespace = metrics.NamespaceEnv

// metricsNamespace is the stack's own CloudWatch namespace for the
// functions' metrics, so that two stacks in one account and Region do not
// add up each other's rollouts.
func (b *builder) metricsNamespace() string {
	return metrics.DefaultNamespace + "/" + *b.stack.StackName()
}

// Dashboard layout: CloudWatch dashboards are 24 units wide.
const (
	third  = 8
	half   = 12
	whole  = 24
	height = 6
)

// emf is one series of the functions' own metrics: the name and dimension
// values come from internal/metrics, the constants the functions emit.
func (b *builder) emf(name metrics.Name, statistic string, period awscdk.Duration, dims ...metrics.Dim) awscloudwatch.IMetric {
	dm := map[string]*string{}
	var values []string
	for _, d := range dims {
		dm[d.Key] = jsii.String(d.Value)
		values = append(values, d.Value)
	}
	label := strings.Join(values, " ")
	if label == "" {
		label = string(name)
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(b.metricsNamespace()),
		MetricName:    jsii.String(string(name)),
		DimensionsMap: &dm,
		Statistic:     jsii.String(statistic),
		Period:        period,
		Label:         jsii.String(label),
	})
}

// graph is a line graph of metrics.
func graph(title string, width float64, stacked bool, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
	return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
		Title: jsii.String(title), Width: jsii.Number(width), Height: jsii.Number(height),
		Left: &left, Stacked: jsii.Bool(stacked),
	})
}

// dashboard is the operator's picture of the stack: what ecrwarden did
// (pushes, rollouts and their latency, alerts, scan gates, what gc
// reclaimed and saves), and whether the functions are healthy (errors by
// kind, Lambda errors, throttles, durations, dead letters, and every alarm
// of the stack). Named <stack>-<Region>: dashboard names are account-wide.
func (b *builder) dashboard(gcQueue, verifyQueue awssqs.Queue) {
	five := awscdk.Duration_Minutes(jsii.Number(5))
	hour := awscdk.Duration_Hours(jsii.Number(1))
	day := awscdk.Duration_Days(jsii.Number(1))
	header := awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Width: jsii.Number(whole), Height: jsii.Number(2),
		Markdown: jsii.String("# ecrwarden — " + *b.stack.StackName() + "\n" +
			"The functions' own metrics (namespace `" + b.metricsNamespace() + "`, written as CloudWatch embedded metric format " +
			"log lines; `ecrwarden demo` ends with the same series read back from its functions' logs) above; " +
			"Lambda, SQS and the alarms below."),
	})

	rollouts := graph("Rollouts by outcome", third, true,
		b.emf(metrics.Rollouts, "Sum", hour, metrics.OutcomePatched),
		b.emf(metrics.Rollouts, "Sum", hour, metrics.OutcomeUnchanged),
		b.emf(metrics.Rollouts, "Sum", hour, metrics.OutcomeHeld),
		b.emf(metrics.Rollouts, "Sum", hour, metrics.OutcomeFailed))
	latency := graph("Push to patch latency (ms)", third, false,
		labelled(b.emf(metrics.PushToPatch, "p50", hour), "p50"),
		labelled(b.emf(metrics.PushToPatch, "p90", hour), "p90"),
		labelled(b.emf(metrics.PushToPatch, "Maximum", hour), "max"))
	pushes := graph("Pushes by verdict", third, true,
		b.emf(metrics.Pushes, "Sum", hour, metrics.VerdictAccepted),
		b.emf(metrics.Pushes, "Sum", hour, metrics.VerdictRejected),
		b.emf(metrics.Pushes, "Sum", hour, metrics.VerdictIgnored),
		b.emf(metrics.Pushes, "Sum", hour, metrics.VerdictRefused))

	var alertSeries []awscloudwatch.IMetric
	for _, ch := range []metrics.Dim{metrics.ChannelSNS, metrics.ChannelSlack} {
		for _, res := range []metrics.Dim{metrics.ResultSent, metrics.ResultDeduplicated, metrics.ResultFailed} {
			alertSeries = append(alertSeries, b.emf(metrics.Alerts, "Sum", hour, ch, res))
		}
	}
	alerts := graph("Alerts by channel and result", third, false, alertSeries...)
	gates := graph("Scan gates", third, true,
		b.emf(metrics.ScanGates, "Sum", hour, metrics.DecisionHeld),
		b.emf(metrics.ScanGates, "Sum", hour, metrics.DecisionReleased))
	var errorSeries []awscloudwatch.IMetric
	for _, fn := range []metrics.Dim{metrics.FunctionOnpush, metrics.FunctionOnscan, metrics.FunctionGC} {
		for _, kind := range []metrics.Dim{metrics.KindEvent, metrics.KindThrottled, metrics.KindAWS,
			metrics.KindKubernetes, metrics.KindLease, metrics.KindTimeout, metrics.KindOther} {
			errorSeries = append(errorSeries, b.emf(metrics.Errors, "Sum", five, fn, kind))
		}
	}
	errorsByKind := graph("Errors by function and kind", third, true, errorSeries...)

	gcImages := graph("gc images per day", third, true,
		b.emf(metrics.GCImages, "Sum", day, metrics.ActionDeleted),
		b.emf(metrics.GCImages, "Sum", day, metrics.ActionArchived))
	gcBytes := graph("gc reclaimed bytes per day", third, true,
		b.emf(metrics.GCBytes, "Sum", day, metrics.ActionDeleted),
		b.emf(metrics.GCBytes, "Sum", day, metrics.ActionArchived))
	gcCost := graph("gc monthly cost saved (USD) per day", third, false,
		labelled(b.emf(metrics.GCMonthlyCostSaved, "Sum", day), "saved"))

	var lambdaErrors, throttles, durations, dlqs []awscloudwatch.IMetric
	for _, f := range b.functions {
		opts := func(stat string) *awscloudwatch.MetricOptions {
			return &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String(stat), Label: jsii.String(f.name)}
		}
		lambdaErrors = append(lambdaErrors, f.fn.MetricErrors(opts("Sum")))
		throttles = append(throttles, f.fn.MetricThrottles(opts("Sum")))
		durations = append(durations,
			f.fn.MetricDuration(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("p90"), Label: jsii.String(f.name + " p90")}),
			f.fn.MetricDuration(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum"), Label: jsii.String(f.name + " max")}))
		dlqs = append(dlqs, f.dlq.MetricApproximateNumberOfMessagesVisible(opts("Maximum")))
	}
	dlqs = append(dlqs, gcQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period: five, Statistic: jsii.String("Maximum"), Label: jsii.String("gc fan-out queue"),
	}), verifyQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		// Checks due now (delayed ones are not visible yet): a backlog means
		// rollouts wait for their verification.
		Period: five, Statistic: jsii.String("Maximum"), Label: jsii.String("rollout verification checks"),
	}))

	alarms := make([]interfacesawscloudwatch.IAlarmRef, len(b.alarms))
	for i, a := range b.alarms {
		alarms[i] = a
	}
	awscloudwatch.NewDashboard(b.stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   awscdk.Fn_Join(jsii.String("-"), &[]*string{b.stack.StackName(), b.stack.Region()}),
		DefaultInterval: awscdk.Duration_Days(jsii.Number(7)),
		Widgets: &[]*[]awscloudwatch.IWidget{
			{header},
			{rollouts, latency, pushes},
			{alerts, gates, errorsByKind},
			{gcImages, gcBytes, gcCost},
			{
				graph("Lambda errors", third, false, lambdaErrors...),
				graph("Lambda throttles", third, false, throttles...),
				graph("Lambda duration (ms)", third, false, durations...),
			},
			{
				graph("Dead-letter queue depths", half, false, dlqs...),
				awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
					Title: jsii.String("Alarms"), Width: jsii.Number(half), Height: jsii.Number(height), Alarms: &alarms,
				}),
			},
		},
	})
}

// labelled returns m with a legend label.
func labelled(m awscloudwatch.IMetric, label string) awscloudwatch.IMetric {
	return m.(awscloudwatch.Metric).With(&awscloudwatch.MetricOptions{Label: jsii.String(label)})
}
