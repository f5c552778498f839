package main

// Price is one AWS list price: us-east-1, on demand, the first pricing
// tier, as the page named in Source showed it on 2026-12-02.
type Price struct {
	Value  float64
	Unit   string
	Source string
}

const (
	srcFargate  = "https://aws.amazon.com/fargate/pricing/ (Linux/ARM)"
	srcELB      = "https://aws.amazon.com/elasticloadbalancing/pricing/ (Network Load Balancer)"
	srcVPC      = "https://aws.amazon.com/vpc/pricing/ (public IPv4 addresses)"
	srcLink     = "https://aws.amazon.com/privatelink/pricing/ (interface endpoints)"
	srcLambda   = "https://aws.amazon.com/lambda/pricing/ (arm64)"
	srcDynamo   = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
	srcCW       = "https://aws.amazon.com/cloudwatch/pricing/"
	srcSecrets  = "https://aws.amazon.com/secrets-manager/pricing/"
	srcTransfer = "https://aws.amazon.com/ec2/pricing/on-demand/ (data transfer)"
	srcIoT      = "https://aws.amazon.com/iot-core/pricing/"
)

// The prices the bill uses.
var (
	fargateVCPUHour  = Price{0.03238, "per vCPU-hour", srcFargate}
	fargateGBHour    = Price{0.00356, "per GB-hour", srcFargate}
	nlbHour          = Price{0.0225, "per hour", srcELB}
	nlcuHour         = Price{0.006, "per NLCU-hour", srcELB}
	ipv4Hour         = Price{0.005, "per address-hour", srcVPC}
	endpointAZHour   = Price{0.01, "per endpoint per AZ-hour", srcLink}
	lambdaRequest    = Price{0.20 / 1e6, "per request ($0.20 per million)", srcLambda}
	lambdaGBSecond   = Price{0.0000133334, "per GB-second", srcLambda}
	dynamoRead       = Price{0.125 / 1e6, "per RRU ($0.125 per million)", srcDynamo}
	dynamoWrite      = Price{0.625 / 1e6, "per WRU ($0.625 per million)", srcDynamo}
	dynamoStorage    = Price{0.25, "per GB-month", srcDynamo}
	dynamoPITR       = Price{0.20, "per GB-month (continuous backups)", srcDynamo}
	logsIngest       = Price{0.50, "per GB ingested", srcCW}
	customMetric     = Price{0.30, "per metric-month", srcCW}
	alarmMetric      = Price{0.10, "per standard alarm metric-month", srcCW}
	dashboardMonth   = Price{3.00, "per dashboard-month (past an account's first 3)", srcCW}
	secretMonth      = Price{0.40, "per secret-month", srcSecrets}
	transferOutGB    = Price{0.09, "per GB out to the internet (past 100 GB a month)", srcTransfer}
	crossAZGB        = Price{0.02, "per GB between zones ($0.01 each way)", srcTransfer}
	iotMessage       = Price{1.00 / 1e6, "per message of 5 KB ($1.00 per million, first billion)", srcIoT}
	iotMessageTier2  = Price{0.80 / 1e6, "per message, next 4 billion", srcIoT}
	iotMessageTier3  = Price{0.70 / 1e6, "per message, past 5 billion", srcIoT}
	iotConnectMinute = Price{0.08 / 1e6, "per connection-minute ($0.08 per million)", srcIoT}
)

// The Network Load Balancer's capacity unit for TLS listeners: whichever
// dimension needs most (srcELB).
const (
	nlcuTLSNewPerSecond = 50
	nlcuTLSActive       = 3000
	nlcuGBPerHour       = 1
)

// freeTransferGB is the internet data transfer out free each month.
const freeTransferGB = 100

// hoursPerMonth is AWS's month of 730 hours.
const hoursPerMonth = 730
