package inuse

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

// batchPage is DescribeJobDefinitions' largest page (maxResults).
const batchPage = 100

// Batch is the source of the account's active AWS Batch job definitions
// (every ACTIVE revision: a job can be submitted against any of them):
// container, ECS and EKS properties, and those of each node range of a
// multi-node definition.
//
// Calls for J active job definition revisions: ceil(J/100)
// DescribeJobDefinitions (at least one).
type Batch struct {
	Client batch.DescribeJobDefinitionsAPIClient
}

// Name implements Source.
func (b *Batch) Name() string { return "Batch" }

// List implements Source.
func (b *Batch) List(ctx context.Context) (Listing, error) {
	var l Listing
	p := batch.NewDescribeJobDefinitionsPaginator(b.Client, &batch.DescribeJobDefinitionsInput{
		Status: aws.String("ACTIVE"), MaxResults: aws.Int32(batchPage)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return Listing{}, fmt.Errorf("describe active job definitions: %w", err)
		}
		for _, d := range out.JobDefinitions {
			if s := aws.ToString(d.Status); s != "" && s != "ACTIVE" {
				continue
			}
			holder := "job definition " + aws.ToString(d.JobDefinitionName) + ":" + strconv.Itoa(int(aws.ToInt32(d.Revision)))
			for _, img := range jobDefinitionImages(d) {
				l.Add("Batch", holder, img)
			}
		}
	}
	return l, nil
}

// jobDefinitionImages returns every image a job definition names.
func jobDefinitionImages(d types.JobDefinition) []string {
	var images []string
	add := func(img *string) {
		if s := aws.ToString(img); s != "" {
			images = append(images, s)
		}
	}
	props := func(c *types.ContainerProperties, ecs *types.EcsProperties, eks *types.EksProperties) {
		if c != nil {
			add(c.Image)
		}
		if ecs != nil {
			for _, t := range ecs.TaskProperties {
				for _, c := range t.Containers {
					add(c.Image)
				}
			}
		}
		if eks != nil && eks.PodProperties != nil {
			for _, c := range eks.PodProperties.InitContainers {
				add(c.Image)
			}
			for _, c := range eks.PodProperties.Containers {
				add(c.Image)
			}
		}
	}
	props(d.ContainerProperties, d.EcsProperties, d.EksProperties)
	if d.NodeProperties != nil {
		for _, r := range d.NodeProperties.NodeRangeProperties {
			props(r.Container, r.EcsProperties, r.EksProperties)
		}
	}
	return images
}
