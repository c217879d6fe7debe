// Command cce-list-workflows calls CCE's ListUpgradeWorkFlows (or, with -call, one of the task detail
// calls: ListPreCheckTasks, ShowPreCheck, ListUpgradeClusterTasks, ShowUpgradeClusterTask,
// ShowClusterUpgradeInfo, ListClusterMasterSnapshotTasks, ListClusterUpgradePaths) through the official Go SDK
// (huaweicloud-sdk-go-v3), signed with AK/SK exactly as the SDK signs it, and prints one JSON
// line: {"ok":true,"status":200,"response":{...},"sent":{...}} or {"ok":false,"error":{...},"sent":{...}},
// where "sent" names the headers the SDK sent and the ones it signed (never a secret).
//
// Not part of the product: the tests build it (pinned by this go.mod/go.sum) to prove that the
// simulator interoperates with the Go SDK as CCE does. Credentials come from the SDK's own
// environment variables (HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_PROJECT_ID,
// HUAWEICLOUD_SDK_SECURITY_TOKEN), so no secret appears on a command line.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/provider"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/httphandler"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	cce "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cce/v3"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cce/v3/model"
)

var signedHeaders = regexp.MustCompile(`SignedHeaders=([^,\s]+)`)

// sent describes the last request the SDK put on the wire: header names, the signed-header list, the query.
var sent = map[string]interface{}{}

func record(request http.Request) {
	names := make([]string, 0, len(request.Header))
	for name := range request.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	sent["headers"] = names
	sent["query"] = request.URL.RawQuery
	sent["path"] = request.URL.EscapedPath()
	if found := signedHeaders.FindStringSubmatch(request.Header.Get("Authorization")); found != nil {
		sent["signedHeaders"] = found[1]
	}
}

func emit(result map[string]interface{}, code int) {
	result["sent"] = sent
	out, err := json.Marshal(result)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot encode the result: %v\n", err)
		os.Exit(3)
	}
	fmt.Println(string(out))
	os.Exit(code)
}

func main() {
	endpoint := flag.String("endpoint", "", "CCE endpoint, e.g. http://127.0.0.1:8443")
	cluster := flag.String("cluster", "", "cluster ID")
	timeout := flag.Duration("timeout", 20*time.Second, "HTTP timeout")
	operation := flag.String("call", "workflows",
		"workflows, prechecks, precheck, upgrades, upgrade, upgradeinfo, upgradepaths or snapshots")
	task := flag.String("task", "", "task ID for -call precheck or upgrade")
	flag.Parse()
	if *endpoint == "" || *cluster == "" {
		fmt.Fprintln(os.Stderr, "usage: cce-list-workflows -endpoint URL -cluster ID (credentials in HUAWEICLOUD_SDK_*)")
		os.Exit(2)
	}

	credentials, err := provider.BasicCredentialEnvProvider().GetCredentials()
	if err != nil {
		emit(map[string]interface{}{"ok": false, "error": map[string]interface{}{"message": err.Error()}}, 2)
	}
	httpConfig := config.DefaultHttpConfig().WithTimeout(*timeout).WithRetries(0).
		WithHttpHandler(httphandler.NewHttpHandler().AddRequestHandler(record))
	hcClient, err := cce.CceClientBuilder().
		WithEndpoints([]string{*endpoint}).
		WithCredential(credentials).
		WithHttpConfig(httpConfig).
		SafeBuild()
	if err != nil {
		emit(map[string]interface{}{"ok": false, "error": map[string]interface{}{"message": err.Error()}}, 2)
	}
	client := cce.NewCceClient(hcClient)

	response, status, err := call(client, *operation, *cluster, *task)
	if err != nil {
		var serviceError *sdkerr.ServiceResponseError
		if errors.As(err, &serviceError) {
			emit(map[string]interface{}{"ok": false, "error": map[string]interface{}{
				"status": serviceError.StatusCode, "code": serviceError.ErrorCode,
				"message": serviceError.ErrorMessage, "requestId": serviceError.RequestId,
			}}, 1)
		}
		emit(map[string]interface{}{"ok": false, "error": map[string]interface{}{"message": err.Error()}}, 1)
	}
	// The SDK's models marshal back to the API's JSON field names (enums included).
	var body interface{}
	raw, err := json.Marshal(response)
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil {
		emit(map[string]interface{}{"ok": false, "error": map[string]interface{}{"message": err.Error()}}, 3)
	}
	emit(map[string]interface{}{"ok": true, "status": status, "response": body}, 0)
}

// call makes one SDK call by name: the workflow list (the default) or one of the task detail calls.
func call(client *cce.CceClient, operation, cluster, task string) (interface{}, int, error) {
	switch operation {
	case "workflows":
		r, err := client.ListUpgradeWorkFlows(&model.ListUpgradeWorkFlowsRequest{ClusterId: cluster})
		return r, statusOf(err, func() int { return r.HttpStatusCode }), err
	case "prechecks":
		r, err := client.ListPreCheckTasks(&model.ListPreCheckTasksRequest{ClusterId: cluster})
		return r, statusOf(err, func() int { return r.HttpStatusCode }), err
	case "precheck":
		r, err := client.ShowPreCheck(&model.ShowPreCheckRequest{ClusterId: cluster, TaskId: task})
		return r, statusOf(err, func() int { return r.HttpStatusCode }), err
	case "upgrades":
		r, err := client.ListUpgradeClusterTasks(&model.ListUpgradeClusterTasksRequest{ClusterId: cluster})
		return r, statusOf(err, func() int { return r.HttpStatusCode }), err
	case "upgrade":
		r, err := client.ShowUpgradeClusterTask(&model.ShowUpgradeClusterTaskRequest{ClusterId: cluster, TaskId: task})
		return r, statusOf(err, func() int { return r.HttpStatusCode }), err
	case "upgradeinfo":
		r, err := client.ShowClusterUpgradeInfo(&model.ShowClusterUpgradeInfoRequest{ClusterId: cluster})
		return r, statusOf(err, func() int { return r.HttpStatusCode }), err
	case "upgradepaths":
		r, err := client.ListClusterUpgradePaths(&model.ListClusterUpgradePathsRequest{})
		return r, statusOf(err, func() int { return r.HttpStatusCode }), err
	case "snapshots":
		r, err := client.ListClusterMasterSnapshotTasks(&model.ListClusterMasterSnapshotTasksRequest{ClusterId: cluster})
		return r, statusOf(err, func() int { return r.HttpStatusCode }), err
	}
	return nil, 0, fmt.Errorf("unknown -call %q", operation)
}

func statusOf(err error, status func() int) int {
	if err != nil {
		return 0
	}
	return status()
}
