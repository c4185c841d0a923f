package inuse

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

// SageMaker client methods the SageMaker source calls, with their SDK v2
// signatures.
type (
	DescribeModelAPI interface {
		DescribeModel(ctx context.Context, params *sagemaker.DescribeModelInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeModelOutput, error)
	}
	DescribeEndpointAPI interface {
		DescribeEndpoint(ctx context.Context, params *sagemaker.DescribeEndpointInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeEndpointOutput, error)
	}
	DescribeEndpointConfigAPI interface {
		DescribeEndpointConfig(ctx context.Context, params *sagemaker.DescribeEndpointConfigInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeEndpointConfigOutput, error)
	}
	DescribeTrainingJobAPI interface {
		DescribeTrainingJob(ctx context.Context, params *sagemaker.DescribeTrainingJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingJobOutput, error)
	}
	DescribeProcessingJobAPI interface {
		DescribeProcessingJob(ctx context.Context, params *sagemaker.DescribeProcessingJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeProcessingJobOutput, error)
	}
	DescribeHyperParameterTuningJobAPI interface {
		DescribeHyperParameterTuningJob(ctx context.Context, params *sagemaker.DescribeHyperParameterTuningJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeHyperParameterTuningJobOutput, error)
	}
)

// SageMakerAPI is the subset of the SageMaker client the SageMaker source calls.
type SageMakerAPI interface {
	sagemaker.ListModelsAPIClient
	sagemaker.ListEndpointsAPIClient
	sagemaker.ListTrainingJobsAPIClient
	sagemaker.ListProcessingJobsAPIClient
	sagemaker.ListHyperParameterTuningJobsAPIClient
	DescribeModelAPI
	DescribeEndpointAPI
	DescribeEndpointConfigAPI
	DescribeTrainingJobAPI
	DescribeProcessingJobAPI
	DescribeHyperParameterTuningJobAPI
}

// sageMakerPage is the largest page of SageMaker's List calls (MaxResults).
const (
	sageMakerPage       = 100
	sageMakerSourceName = "SageMaker"
)

// SageMaker is the source of the account's SageMaker models and what runs
// them: every model's containers (PrimaryContainer and Containers), named
// after the endpoints whose configuration serves the model; every
// endpoint's deployed images as SageMaker resolved them at deployment
// (DeployedImages: the digest that scale-out pulls, even after the tag
// moved or the model was deleted); and the images of training, processing
// and hyperparameter tuning jobs in progress (a tuning job starts new
// training jobs from its image).
//
// Calls for M models, E endpoints over K distinct endpoint configurations,
// and J, P, H training, processing and tuning jobs in progress:
// ceil(M/100) ListModels + M DescribeModel + ceil(E/100) ListEndpoints +
// E DescribeEndpoint + K DescribeEndpointConfig + ceil(J/100)
// ListTrainingJobs + J DescribeTrainingJob + ceil(P/100) ListProcessingJobs
// + P DescribeProcessingJob + ceil(H/100) ListHyperParameterTuningJobs + H
// DescribeHyperParameterTuningJob (each List at least once).
type SageMaker struct {
	Client SageMakerAPI
}

// Name implements Source.
func (s *SageMaker) Name() string { return sageMakerSourceName }

// List implements Source.
func (s *SageMaker) List(ctx context.Context) (Listing, error) {
	endpoints, byModel, err := s.endpoints(ctx)
	if err != nil {
		return Listing{}, err
	}
	models, err := s.models(ctx, byModel)
	if err != nil {
		return Listing{}, err
	}
	jobs, err := s.jobs(ctx)
	if err != nil {
		return Listing{}, err
	}
	models.Append(endpoints)
	models.Append(jobs)
	return models, nil
}

// endpoints lists every endpoint's deployed images, and which endpoints
// serve each model by name.
func (s *SageMaker) endpoints(ctx context.Context) (Listing, map[string][]string, error) {
	var names []string
	p := sagemaker.NewListEndpointsPaginator(s.Client, &sagemaker.ListEndpointsInput{MaxResults: aws.Int32(sageMakerPage)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return Listing{}, nil, fmt.Errorf("list endpoints: %w", err)
		}
		for _, e := range out.Endpoints {
			names = append(names, aws.ToString(e.EndpointName))
		}
	}
	parts := make([]Listing, len(names))
	configs := make([]string, len(names))
	err := each(ctx, len(names), func(ctx context.Context, i int) error {
		out, err := s.Client.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(names[i])})
		if err != nil {
			return fmt.Errorf("describe endpoint %s: %w", names[i], err)
		}
		configs[i] = aws.ToString(out.EndpointConfigName)
		for _, variants := range [][]types.ProductionVariantSummary{out.ProductionVariants, out.ShadowProductionVariants} {
			for _, v := range variants {
				holder := "endpoint " + names[i] + " variant " + aws.ToString(v.VariantName)
				for _, img := range v.DeployedImages {
					if r := aws.ToString(img.ResolvedImage); r != "" {
						parts[i].Add(sageMakerSourceName, holder, r)
					}
					if sp := aws.ToString(img.SpecifiedImage); sp != "" {
						parts[i].Add(sageMakerSourceName, holder, sp)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return Listing{}, nil, err
	}
	// Endpoints sharing a configuration share its models.
	users := map[string][]string{}
	var distinct []string
	for i, c := range configs {
		if c == "" {
			continue
		}
		if _, ok := users[c]; !ok {
			distinct = append(distinct, c)
		}
		users[c] = append(users[c], names[i])
	}
	models := make([][]string, len(distinct))
	err = each(ctx, len(distinct), func(ctx context.Context, i int) error {
		out, err := s.Client.DescribeEndpointConfig(ctx, &sagemaker.DescribeEndpointConfigInput{EndpointConfigName: aws.String(distinct[i])})
		if err != nil {
			return fmt.Errorf("describe endpoint config %s: %w", distinct[i], err)
		}
		for _, variants := range [][]types.ProductionVariant{out.ProductionVariants, out.ShadowProductionVariants} {
			for _, v := range variants {
				if m := aws.ToString(v.ModelName); m != "" {
					models[i] = append(models[i], m)
				}
			}
		}
		return nil
	})
	if err != nil {
		return Listing{}, nil, err
	}
	byModel := map[string][]string{}
	for i, c := range distinct {
		for _, m := range models[i] {
			byModel[m] = append(byModel[m], users[c]...)
		}
	}
	for m := range byModel {
		sort.Strings(byModel[m])
	}
	return gather(parts), byModel, nil
}

// models lists every model's container images, once per endpoint serving
// the model (or once, named after the model alone, when none does).
func (s *SageMaker) models(ctx context.Context, byModel map[string][]string) (Listing, error) {
	var names []string
	p := sagemaker.NewListModelsPaginator(s.Client, &sagemaker.ListModelsInput{MaxResults: aws.Int32(sageMakerPage)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return Listing{}, fmt.Errorf("list models: %w", err)
		}
		for _, m := range out.Models {
			names = append(names, aws.ToString(m.ModelName))
		}
	}
	parts := make([]Listing, len(names))
	err := each(ctx, len(names), func(ctx context.Context, i int) error {
		out, err := s.Client.DescribeModel(ctx, &sagemaker.DescribeModelInput{ModelName: aws.String(names[i])})
		if err != nil {
			return fmt.Errorf("describe model %s: %w", names[i], err)
		}
		var images []string
		if c := out.PrimaryContainer; c != nil && aws.ToString(c.Image) != "" {
			images = append(images, aws.ToString(c.Image))
		}
		for _, c := range out.Containers {
			if img := aws.ToString(c.Image); img != "" {
				images = append(images, img)
			}
		}
		holders := []string{"model " + names[i]}
		if eps := byModel[names[i]]; len(eps) > 0 {
			holders = holders[:0]
			for _, e := range eps {
				holders = append(holders, "endpoint "+e+" model "+names[i])
			}
		}
		for _, h := range holders {
			for _, img := range images {
				parts[i].Add(sageMakerSourceName, h, img)
			}
		}
		return nil
	})
	if err != nil {
		return Listing{}, err
	}
	return gather(parts), nil
}

// jobs lists the images of training, processing and tuning jobs in progress.
func (s *SageMaker) jobs(ctx context.Context) (Listing, error) {
	var training, processing, tuning []string
	tp := sagemaker.NewListTrainingJobsPaginator(s.Client, &sagemaker.ListTrainingJobsInput{
		StatusEquals: types.TrainingJobStatusInProgress, MaxResults: aws.Int32(sageMakerPage)})
	for tp.HasMorePages() {
		out, err := tp.NextPage(ctx)
		if err != nil {
			return Listing{}, fmt.Errorf("list training jobs in progress: %w", err)
		}
		for _, j := range out.TrainingJobSummaries {
			training = append(training, aws.ToString(j.TrainingJobName))
		}
	}
	pp := sagemaker.NewListProcessingJobsPaginator(s.Client, &sagemaker.ListProcessingJobsInput{
		StatusEquals: types.ProcessingJobStatusInProgress, MaxResults: aws.Int32(sageMakerPage)})
	for pp.HasMorePages() {
		out, err := pp.NextPage(ctx)
		if err != nil {
			return Listing{}, fmt.Errorf("list processing jobs in progress: %w", err)
		}
		for _, j := range out.ProcessingJobSummaries {
			processing = append(processing, aws.ToString(j.ProcessingJobName))
		}
	}
	hp := sagemaker.NewListHyperParameterTuningJobsPaginator(s.Client, &sagemaker.ListHyperParameterTuningJobsInput{
		StatusEquals: types.HyperParameterTuningJobStatusInProgress, MaxResults: aws.Int32(sageMakerPage)})
	for hp.HasMorePages() {
		out, err := hp.NextPage(ctx)
		if err != nil {
			return Listing{}, fmt.Errorf("list hyperparameter tuning jobs in progress: %w", err)
		}
		for _, j := range out.HyperParameterTuningJobSummaries {
			tuning = append(tuning, aws.ToString(j.HyperParameterTuningJobName))
		}
	}
	nt, np := len(training), len(processing)
	parts := make([]Listing, nt+np+len(tuning))
	err := each(ctx, len(parts), func(ctx context.Context, i int) error {
		switch {
		case i < nt:
			name := training[i]
			out, err := s.Client.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String(name)})
			if err != nil {
				return fmt.Errorf("describe training job %s: %w", name, err)
			}
			if a := out.AlgorithmSpecification; a != nil && aws.ToString(a.TrainingImage) != "" {
				parts[i].Add(sageMakerSourceName, "training job "+name, aws.ToString(a.TrainingImage))
			}
		case i < nt+np:
			name := processing[i-nt]
			out, err := s.Client.DescribeProcessingJob(ctx, &sagemaker.DescribeProcessingJobInput{ProcessingJobName: aws.String(name)})
			if err != nil {
				return fmt.Errorf("describe processing job %s: %w", name, err)
			}
			if a := out.AppSpecification; a != nil && aws.ToString(a.ImageUri) != "" {
				parts[i].Add(sageMakerSourceName, "processing job "+name, aws.ToString(a.ImageUri))
			}
		default:
			name := tuning[i-nt-np]
			out, err := s.Client.DescribeHyperParameterTuningJob(ctx, &sagemaker.DescribeHyperParameterTuningJobInput{HyperParameterTuningJobName: aws.String(name)})
			if err != nil {
				return fmt.Errorf("describe hyperparameter tuning job %s: %w", name, err)
			}
			defs := out.TrainingJobDefinitions
			if out.TrainingJobDefinition != nil {
				defs = append([]types.HyperParameterTrainingJobDefinition{*out.TrainingJobDefinition}, defs...)
			}
			for _, d := range defs {
				if a := d.AlgorithmSpecification; a != nil && aws.ToString(a.TrainingImage) != "" {
					parts[i].Add(sageMakerSourceName, "hyperparameter tuning job "+name, aws.ToString(a.TrainingImage))
				}
			}
		}
		return nil
	})
	if err != nil {
		return Listing{}, err
	}
	return gather(parts), nil
}
