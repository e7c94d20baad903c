package mlflowapi

// graphqlSchema is the schema of MLflow's GraphQL endpoint (MLflow 3.17),
// type for type and field for field, so that the queries MLflow's UI
// sends validate and answer as they do against MLflow's server. MLflow
// derives it from its REST messages: every field is nullable, 64-bit
// integers are LongString (decimal text, which JavaScript reads without
// rounding), and names are the messages' in camelCase. One difference:
// MLflow declares MlflowSearchRunsInput.runViewType "= null", which
// graph-gophers cannot bind; left out, it is null all the same.
const graphqlSchema = `
directive @component(name: String!) on QUERY | MUTATION

schema {
	query: Query
	mutation: Mutation
}

scalar LongString

type Query {
	mlflowGetExperiment(input: MlflowGetExperimentInput): MlflowGetExperimentResponse
	mlflowGetMetricHistoryBulkInterval(input: MlflowGetMetricHistoryBulkIntervalInput): MlflowGetMetricHistoryBulkIntervalResponse
	mlflowGetRun(input: MlflowGetRunInput): MlflowGetRunResponse
	mlflowListArtifacts(input: MlflowListArtifactsInput): MlflowListArtifactsResponse
	mlflowSearchModelVersions(input: MlflowSearchModelVersionsInput): MlflowSearchModelVersionsResponse
	test(inputString: String): Test
	mlflowSearchRuns(input: MlflowSearchRunsInput): MlflowSearchRunsResponse
}

type Mutation {
	mlflowSearchDatasets(input: MlflowSearchDatasetsInput): MlflowSearchDatasetsResponse
	mlflowSearchRuns(input: MlflowSearchRunsInput): MlflowSearchRunsResponse
	testMutation(inputString: String): TestMutation
}

type Test {
	output: String
}

type TestMutation {
	output: String
}

type ApiError {
	code: String
	message: String
	helpUrl: String
	traceId: String
	errorDetails: [ErrorDetail]
}

type ErrorDetail {
	field: String
	message: String
}

input MlflowGetExperimentInput {
	experimentId: String
}

type MlflowGetExperimentResponse {
	experiment: MlflowExperiment
	apiError: ApiError
}

type MlflowExperiment {
	experimentId: String
	name: String
	artifactLocation: String
	lifecycleStage: String
	lastUpdateTime: LongString
	creationTime: LongString
	tags: [MlflowExperimentTag!]
	effectiveTraceArchivalRetention: String
	workspace: String
}

type MlflowExperimentTag {
	key: String
	value: String
}

input MlflowGetMetricHistoryBulkIntervalInput {
	runIds: [String]
	metricKey: String
	startStep: Int
	endStep: Int
	maxResults: Int
}

type MlflowGetMetricHistoryBulkIntervalResponse {
	metrics: [MlflowMetricWithRunId!]
	apiError: ApiError
}

type MlflowMetricWithRunId {
	key: String
	value: Float
	timestamp: LongString
	step: LongString
	runId: String
}

input MlflowGetRunInput {
	runId: String
	runUuid: String
}

type MlflowGetRunResponse {
	run: MlflowRunExtension
	apiError: ApiError
}

type MlflowRunExtension {
	info: MlflowRunInfo
	data: MlflowRunData
	inputs: MlflowRunInputs
	outputs: MlflowRunOutputs
	experiment: MlflowExperiment
	modelVersions: [MlflowModelVersion!]
}

type MlflowRunInfo {
	runId: String
	runUuid: String
	runName: String
	experimentId: String
	userId: String
	status: MlflowRunStatus
	startTime: LongString
	endTime: LongString
	artifactUri: String
	lifecycleStage: String
}

enum MlflowRunStatus {
	RUNNING
	SCHEDULED
	FINISHED
	FAILED
	KILLED
}

type MlflowRunData {
	metrics: [MlflowMetricExtension!]
	params: [MlflowParam!]
	tags: [MlflowRunTag!]
}

type MlflowMetricExtension {
	key: String
	value: Float
	timestamp: LongString
	step: LongString
	datasetName: String
	datasetDigest: String
	modelId: String
	runId: String
}

type MlflowParam {
	key: String
	value: String
}

type MlflowRunTag {
	key: String
	value: String
}

type MlflowRunInputs {
	datasetInputs: [MlflowDatasetInput!]
	modelInputs: [MlflowModelInput!]
}

type MlflowDatasetInput {
	tags: [MlflowInputTag!]
	dataset: MlflowDataset
}

type MlflowInputTag {
	key: String
	value: String
}

type MlflowDataset {
	name: String
	digest: String
	sourceType: String
	source: String
	schema: String
	profile: String
}

type MlflowModelInput {
	modelId: String
}

type MlflowRunOutputs {
	modelOutputs: [MlflowModelOutput!]
}

type MlflowModelOutput {
	modelId: String
	step: LongString
}

type MlflowModelVersion {
	name: String
	version: String
	creationTimestamp: LongString
	lastUpdatedTimestamp: LongString
	userId: String
	currentStage: String
	description: String
	source: String
	runId: String
	status: MlflowModelVersionStatus
	statusMessage: String
	tags: [MlflowModelVersionTag!]
	runLink: String
	aliases: [String]
	modelId: String
	modelParams: [MlflowModelParam!]
	modelMetrics: [MlflowModelMetric!]
	deploymentJobState: MlflowModelVersionDeploymentJobState
}

enum MlflowModelVersionStatus {
	PENDING_REGISTRATION
	FAILED_REGISTRATION
	READY
}

type MlflowModelVersionTag {
	key: String
	value: String
}

type MlflowModelParam {
	name: String
	value: String
}

type MlflowModelMetric {
	key: String
	value: Float
	timestamp: LongString
	step: LongString
	datasetName: String
	datasetDigest: String
	modelId: String
	runId: String
}

type MlflowModelVersionDeploymentJobState {
	jobId: String
	runId: String
	jobState: MlflowDeploymentJobConnectionState
	runState: MlflowModelVersionDeploymentJobStateDeploymentJobRunState
	currentTaskName: String
}

enum MlflowDeploymentJobConnectionState {
	DEPLOYMENT_JOB_CONNECTION_STATE_UNSPECIFIED
	NOT_SET_UP
	CONNECTED
	NOT_FOUND
	REQUIRED_PARAMETERS_CHANGED
}

enum MlflowModelVersionDeploymentJobStateDeploymentJobRunState {
	DEPLOYMENT_JOB_RUN_STATE_UNSPECIFIED
	NO_VALID_DEPLOYMENT_JOB_FOUND
	RUNNING
	SUCCEEDED
	FAILED
	PENDING
	APPROVAL
}

input MlflowListArtifactsInput {
	runId: String
	runUuid: String
	path: String
	pageToken: String
}

type MlflowListArtifactsResponse {
	rootUri: String
	files: [MlflowFileInfo!]
	nextPageToken: String
	apiError: ApiError
}

type MlflowFileInfo {
	path: String
	isDir: Boolean
	fileSize: LongString
}

input MlflowSearchModelVersionsInput {
	filter: String
	maxResults: LongString
	orderBy: [String]
	pageToken: String
}

type MlflowSearchModelVersionsResponse {
	modelVersions: [MlflowModelVersion!]
	nextPageToken: String
	apiError: ApiError
}

input MlflowSearchRunsInput {
	experimentIds: [String]
	filter: String
	runViewType: MlflowViewType
	maxResults: Int
	orderBy: [String]
	pageToken: String
}

enum MlflowViewType {
	ACTIVE_ONLY
	DELETED_ONLY
	ALL
}

type MlflowSearchRunsResponse {
	runs: [MlflowRunExtension!]
	nextPageToken: String
	apiError: ApiError
}

input MlflowSearchDatasetsInput {
	experimentIds: [String]
}

type MlflowSearchDatasetsResponse {
	datasetSummaries: [MlflowDatasetSummary!]
	apiError: ApiError
}

type MlflowDatasetSummary {
	experimentId: String
	name: String
	digest: String
	context: String
}
`
