// Command kstatus computes the kstatus of Kubernetes objects with the real library that Flux, kpt
// and cli-utils use (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute), so the tests check the
// operator's objects against what those tools really decide instead of a re-implementation.
//
// It reads a JSON array of objects on stdin and prints a JSON array of {"status", "message"} in the
// same order (or {"error"} for an object the library refuses). Not part of the product: the tests
// build it (pinned by this go.mod/go.sum, cached under ~/.cache/ccupgrade; see
// operator/ccupgrade/testbed/tools.py).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

func main() {
	// apimachinery's decoder keeps whole numbers as int64, as the library's accessors expect
	// (encoding/json would give float64, and every generation would be refused).
	var objects []map[string]interface{}
	input, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = utiljson.Unmarshal(input, &objects)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: stdin is not a JSON array of objects: %v\n", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(objects))
	for _, object := range objects {
		computed, err := status.Compute(&unstructured.Unstructured{Object: object})
		if err != nil {
			results = append(results, result{Error: err.Error()})
			continue
		}
		results = append(results, result{Status: computed.Status.String(), Message: computed.Message})
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
}
