package retention

// DeleteIDs returns the digests of the images to delete, in the order to
// delete them (by digest, which removes every tag of an image): every
// deleted image that references another deleted image (an index listing a
// child, a referrer naming its subject) comes before the image it
// references, because ECR refuses to delete a manifest an index still lists
// (ImageReferencedByManifestList). The order is built in waves: first the
// images nothing deleted references, in plan order, then the images only
// those referenced, and so on; reference cycles (malformed input) come last.
// A repository without indexes or referrers is one wave, in plan order.
func (r *Result) DeleteIDs() []string {
	if r.Deletes == 0 {
		return nil
	}
	pos := make(map[string]int, r.Deletes)
	var del []int
	for i := range r.Decisions {
		if r.Decisions[i].Delete {
			pos[r.Decisions[i].Digest] = len(del)
			del = append(del, i)
		}
	}
	// refs[k] counts the deleted images referencing deleted image k;
	// next[k] are the deleted images k references.
	refs := make([]int, len(del))
	next := make([][]int, len(del))
	for k, i := range del {
		d := &r.Decisions[i]
		for _, c := range d.Manifests {
			if j, ok := pos[c]; ok && j != k {
				next[k] = append(next[k], j)
				refs[j]++
			}
		}
		if j, ok := pos[d.Subject]; ok && j != k {
			next[k] = append(next[k], j)
			refs[j]++
		}
	}
	out := make([]string, 0, len(del))
	done := make([]bool, len(del))
	left := len(del)
	for left > 0 {
		var ready []int
		for k := range del {
			if !done[k] && refs[k] == 0 {
				ready = append(ready, k)
			}
		}
		if len(ready) == 0 {
			for k := range del {
				if !done[k] {
					ready = append(ready, k)
				}
			}
		}
		for _, k := range ready {
			out = append(out, r.Decisions[del[k]].Digest)
			done[k] = true
		}
		for _, k := range ready {
			for _, j := range next[k] {
				refs[j]--
			}
		}
		left -= len(ready)
	}
	return out
}
