# mqttless build, test and run targets. Every target installs what it needs.
SHELL := bash
GO ?= go
FUZZTIME ?= 30s
BENCHTIME ?= 1s
PKGS := ./...

# DATA_DIR is make run's data directory, METRICS_ADDR where it serves
# /metrics and /healthz: MQTTLESS_DATA_DIR and MQTTLESS_METRICS_ADDR when
# set, else data and 127.0.0.1:9090. make run hands them to the broker as
# those variables, not as flags, so that the broker's own reading of the
# environment is the one in force.
DATA_DIR ?= $(or $(MQTTLESS_DATA_DIR),data)
ARGS ?=
# STORE picks the all-in-one broker's store for make run: bolt, memory or dynamo.
STORE ?=
METRICS_ADDR ?= $(or $(MQTTLESS_METRICS_ADDR),127.0.0.1:9090)
# VERSION is what $SYS/broker/version reports, stamped into the binaries
# at build time (-ldflags -X): git describe of this checkout; outside a
# checkout it is empty and the binary reports its module version.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
VERSION_LDFLAGS := $(if $(VERSION),-X github.com/mqttless/mqttless/infra/proxy.Version=$(VERSION))
# MOTO_PORT is where make moto and localstack/with-moto.sh serve moto.
MOTO_PORT ?= 4566
BENCH_ARGS ?=
PROFILE ?=
# RIE_VERSION is the AWS Lambda Runtime Interface Emulator make rie-deps
# installs; FUNCTIONS the handler functions under functions/.
RIE_VERSION ?= v0.0.0-20261030222936-bef5c4ba774d
FUNCTIONS := connect publish subscribe session
# sam build (make sam-check, make deploy) writes into SAM_BUILD_DIR; sam
# deploy --guided saves its answers in SAM_CONFIG (both under build/, which
# git ignores). FUNCTION_GOARCH is the functions' architecture for sam
# build: it matches template.yaml's FunctionArchitecture (arm64, or amd64
# for x86_64). STACK_NAME and AWS_REGION pick the stack make deploy and
# make image work on; IMAGE_REPO and IMAGE_TAG the proxy's image in ECR.
SAM := SAM_CLI_TELEMETRY=0 .venv/bin/sam
SAM_BUILD_DIR ?= build/sam
SAM_CONFIG ?= build/samconfig.toml
FUNCTION_GOARCH ?= arm64
STACK_NAME ?= mqttless
IMAGE_REPO ?= mqttless
IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo latest)
# LOCALSTACK_PORT is LocalStack's edge port (localstack/docker-compose.yml).
LOCALSTACK_PORT ?= 4566
# apt-get runs as root, or through sudo when there is one.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo)

.PHONY: all build run moto moto-deps test test-unit test-hostile test-abuse test-e2e-dynamo test-e2e-lambda test-faults rie-deps functions functions-local local vet fmt-check deps bench-deps fuzz bench bench-codec bench-dynamo bench-lambda bench-init bench-connect-storm bench-fanout bench-order clean
.PHONY: cost
.PHONY: sam-deps sam-check deploy image deploy-moto localstack-up localstack-deploy localstack-test localstack-down
.PHONY: build-ConnectFunction build-PublishFunction build-SubscribeFunction build-SessionFunction build-LeaseFunction

all: build

build:
	$(GO) build $(PKGS)
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o bin/mqttless ./cmd/mqttless

## run: builds and starts the all-in-one broker on 127.0.0.1:1883 with its
## data in $(DATA_DIR) (MQTTLESS_DATA_DIR), metrics on $(METRICS_ADDR)
## (MQTTLESS_METRICS_ADDR). Pass flags with ARGS="-log-level debug"; other
## MQTTLESS_<FLAG> variables reach the broker. It says what it does while
## the first build compiles, and how to get the quick start's mosquitto
## clients when they are missing.
## STORE=dynamo runs it on DynamoDB, creating the table when missing: on
## AWS_ENDPOINT_URL when set, else on the moto that `make moto` serves
## (with dummy credentials). The broker's file descriptor limit is raised
## to the hard limit first, so that -max-connections, not the descriptors,
## bounds its connections.
run:
	@echo "make run: compiling bin/mqttless and bin/mqttless-admin (the first time, Go downloads and compiles the dependencies: a minute or two)"
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o bin/mqttless ./cmd/mqttless
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o bin/mqttless-admin ./cmd/mqttless-admin
	@command -v mosquitto_sub >/dev/null && command -v mosquitto_pub >/dev/null || \
	  echo "make run: the quick start's mosquitto_sub and mosquitto_pub are not installed: make deps (or sudo apt-get install mosquitto-clients) installs them"
ifeq ($(STORE),dynamo)
	ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; \
	$(if $(AWS_ENDPOINT_URL),,AWS_ENDPOINT_URL=http://127.0.0.1:$(MOTO_PORT) AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1) \
	MQTTLESS_METRICS_ADDR=$(METRICS_ADDR) ./bin/mqttless -store dynamo -create-table true $(ARGS)
else
	@echo "make run: starting the broker, data in $(DATA_DIR); users and rules: bin/mqttless-admin$(if $(filter-out data,$(DATA_DIR)), -data-dir $(DATA_DIR)) users|acl ..., while it runs"
	ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; \
	MQTTLESS_DATA_DIR=$(DATA_DIR) MQTTLESS_METRICS_ADDR=$(METRICS_ADDR) ./bin/mqttless $(if $(STORE),-store $(STORE)) $(ARGS)
endif

## moto: serves moto's DynamoDB emulator on 127.0.0.1:$(MOTO_PORT) in the
## foreground, for make run STORE=dynamo.
moto: moto-deps
	.venv/bin/python localstack/moto_server.py 127.0.0.1 $(MOTO_PORT)

## moto-deps: installs moto (server mode) and waitress, the HTTP server
## localstack/moto_server.py serves it with, from PyPI into .venv.
moto-deps: .venv/bin/waitress-serve

.venv/bin/waitress-serve:
	python3 -m venv .venv && .venv/bin/pip install -q 'moto[server]' waitress

## deps: installs what the tests need: Debian's mosquitto clients for the
## smoke test.
deps:
	@command -v mosquitto_pub >/dev/null && command -v mosquitto_sub >/dev/null || { \
	  echo "installing mosquitto-clients"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq mosquitto-clients >/dev/null; }

## test: everything CI runs: formatting, vet, and all tests with the race
## detector, with moto serving DynamoDB for infra/dynamo (or the endpoint
## AWS_ENDPOINT_URL names); then the e2e suite once more on -store dynamo,
## and once more on the local serverless stack (test-e2e-lambda).
test: deps moto-deps fmt-check vet sam-check deploy-moto test-unit test-hostile test-abuse test-e2e-dynamo test-e2e-lambda test-faults

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# The DynamoDB contract suite runs without the race detector: against moto
# it is request-bound, and -race doubles its time without finding more.
test-unit:
	MOTO_PORT=$(MOTO_PORT) localstack/with-moto.sh sh -c '\
	  $(GO) test -race -count=1 -timeout 30m -skip "^TestHostile|^TestAbuse" $$($(GO) list $(PKGS) | grep -v "/infra/dynamo$$") && \
	  $(GO) test -count=1 -timeout 30m ./infra/dynamo/'

## test-hostile: the hostile-input suite of the e2e tests (test/hostile_test.go)
## on the embedded store, verbose: every malformed frame of the codec's
## table over TCP, a slow-drip CONNECT, a CONNECT that never comes, 10,000
## idle connections, oversize length claims and a SUBSCRIBE flood, one line
## per thing tried and what happened (make test runs it so, once).
test-hostile:
	$(GO) test -count=1 -v -run Hostile ./test/

## test-abuse: the abuse suite of the e2e tests (test/abuse_*_test.go) on
## the embedded store, verbose: one test per way a single client could
## make the broker hold memory, descriptors or CPU without bound (issue
## 14), each asserting its bound; grep "ABUSE |" for the README's report
## (make test runs it so, once).
test-abuse:
	$(GO) test -count=1 -v -run Abuse ./test/

## test-e2e-dynamo: the e2e suite with every broker on -store dynamo (moto),
## delivery v2's tests (TestV2*) included (MQTTLESS_E2E_V2_DYNAMO=1). The
## hostile suite runs in test-hostile and test-e2e-lambda, not here: the
## codec rejects a malformed frame before the store sees it, so that
## DynamoDB under the all-in-one broker changes nothing the suite checks.
test-e2e-dynamo: moto-deps
	MQTTLESS_E2E_STORE=dynamo MQTTLESS_E2E_V2_DYNAMO=1 MOTO_PORT=$(MOTO_PORT) localstack/with-moto.sh $(GO) test -count=1 -timeout 30m -skip "^TestHostile" ./test/

## test-e2e-lambda: the e2e suite on the local serverless stack: every
## broker is a proxy with -invoker lambda and its own pool of the handler
## functions under the Lambda Runtime Interface Emulator, on moto; plus the
## tests of test/serverless_test.go (two proxies, one set of functions). The
## fault scenarios run apart, in test-faults. Delivery v2's tests (TestV2*)
## run too (MQTTLESS_E2E_V2_DYNAMO=1).
## The suite builds its own copies of the functions, with -race.
test-e2e-lambda: moto-deps rie-deps functions-local
	MQTTLESS_E2E_STACK=lambda MQTTLESS_E2E_RIE=$(CURDIR)/bin/aws-lambda-rie MQTTLESS_E2E_V2_DYNAMO=1 MOTO_PORT=$(MOTO_PORT) \
	  localstack/with-moto.sh $(GO) test -count=1 -timeout 30m -skip "^TestFault|^TestAbuse" ./test/

## rie-deps: installs the AWS Lambda Runtime Interface Emulator
## (RIE_VERSION) into bin/.
rie-deps:
	@test -x bin/aws-lambda-rie && [ "$$(cat bin/.aws-lambda-rie.version 2>/dev/null)" = "$(RIE_VERSION)" ] || { \
	  echo "installing aws-lambda-rie $(RIE_VERSION)"; \
	  GOBIN=$(CURDIR)/bin $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION) && \
	  echo "$(RIE_VERSION)" > bin/.aws-lambda-rie.version; }

## functions: builds each handler function for AWS Lambda (provided.al2023,
## arm64) into build/functions/<name>/bootstrap.
functions:
	@set -e; for f in $(FUNCTIONS); do \
	  echo "build/functions/$$f/bootstrap"; \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "$(VERSION_LDFLAGS)" -o build/functions/$$f/bootstrap ./functions/$$f; \
	done

## functions-local: builds each handler function for this machine into
## build/local/<name>/bootstrap, for make local and the emulator.
functions-local:
	@set -e; for f in $(FUNCTIONS); do \
	  echo "build/local/$$f/bootstrap"; \
	  CGO_ENABLED=0 $(GO) build -tags lambda.norpc -ldflags "$(VERSION_LDFLAGS)" -o build/local/$$f/bootstrap ./functions/$$f; \
	done

## local: the local serverless stack in the foreground until Ctrl-C: moto
## (or AWS_ENDPOINT_URL), the table, each function under the Lambda Runtime
## Interface Emulator (a pool per proxy), and two proxies, on
## 127.0.0.1:1883 and 127.0.0.1:1884, with one generated delivery secret.
## Logs and pids in .local/ (localstack/local-stack.sh). ARGS adds flags
## to the proxies; MQTTLESS_<FLAG> variables reach functions and proxies.
local: moto-deps rie-deps functions-local
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o bin/mqttless ./cmd/mqttless
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o bin/mqttless-admin ./cmd/mqttless-admin
	MOTO_PORT=$(MOTO_PORT) PROXY_ARGS="$(ARGS)" localstack/local-stack.sh run

## fuzz: runs every fuzz target under core/ for FUZZTIME each (default 30s).
fuzz:
	@set -e; for pkg in $$($(GO) list ./core/...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg; \
	  done; \
	done

## bench-codec: the codec and topic micro-benchmarks, side by side with paho.
bench-codec:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./core/packet/ ./core/topic/

## bench-deps: installs Debian's mosquitto broker for the load benchmark.
bench-deps:
	@test -x /usr/sbin/mosquitto || { \
	  echo "installing mosquitto"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq mosquitto >/dev/null; }

## bench: the load benchmark: scenarios S1-S5 against the all-in-one broker
## (-store bolt) and Mosquitto, 3 rounds alternating, medians and ratios
## (README "Load benchmark"). A quick run: BENCH_ARGS="-duration 2s -rounds 1".
## PROFILE=1 also saves CPU and heap profiles of mqttless in bench-profiles/.
bench: bench-deps
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o bin/mqttless ./cmd/mqttless
	$(GO) build -o bin/mqttbench ./cmd/mqttbench
	ulimit -n "$$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true; \
	./bin/mqttbench -mqttless bin/mqttless $(if $(PROFILE),-profile-dir bench-profiles) $(BENCH_ARGS)

## bench-dynamo: the capacity each MQTT operation consumes on the DynamoDB
## store, through the real handler, on moto (or AWS_ENDPOINT_URL; with
## MQTTLESS_DYNAMO_TEST=1 and no endpoint, on AWS itself). COST_SUBS sets
## the size of the subscription table of the last rows (default 100000).
bench-dynamo: moto-deps
	MQTTLESS_DYNAMO_COST=1 MQTTLESS_DYNAMO_COST_SUBS=$(or $(COST_SUBS),100000) MOTO_PORT=$(MOTO_PORT) \
	  localstack/with-moto.sh $(GO) test -run '^TestCost$$' -count=1 -v -timeout 60m ./infra/dynamo/

## bench-lambda: what the serverless path spends per 1,000 messages
## (Lambda invocations, GB-seconds, DynamoDB request units) and in dollars
## per million messages beside AWS IoT Core, through the real Lambda
## invoker and functions on moto (or AWS_ENDPOINT_URL). COST_MESSAGES
## messages per scenario (default 200; a tenth of that at 100 subscribers),
## scaled to 1,000. COST_DELIVERY=v1 or v2 runs only the rows of that
## delivery (v2: -delivery v2, whose PUBACKs the proxy's window takes).
bench-lambda: moto-deps
	MQTTLESS_LAMBDA_COST=1 MQTTLESS_LAMBDA_COST_MESSAGES=$(or $(COST_MESSAGES),200) MQTTLESS_LAMBDA_COST_DELIVERY=$(COST_DELIVERY) MOTO_PORT=$(MOTO_PORT) \
	  localstack/with-moto.sh $(GO) test -run '^TestServerlessCost$$' -count=1 -v -timeout 60m ./infra/lambdafn/

## cost: the monthly bill of the stack template.yaml deploys, at its
## defaults, for the reference fleets of issue 17, every component with its
## us-east-1 list price and source, beside AWS IoT Core's bill for the same
## fleet; per-message figures from make bench-lambda and make bench-dynamo
## (cmd/mqttless-cost; README "The honest bill").
cost:
	$(GO) run ./cmd/mqttless-cost

## bench-connect-storm: a CONNECT storm on the local serverless stack
## (localstack/connect-storm.sh): STORM_CLIENTS (2000) clients with
## passwords (STORM_USERS users, bcrypt cost STORM_COST, 10) connected to
## one proxy reconnect at once through the other when the first drains
## (SIGTERM); prints the time to all CONNACKs and the failures.
bench-connect-storm: moto-deps rie-deps functions-local
	$(GO) build -o bin/mqttless ./cmd/mqttless
	$(GO) build -o bin/mqttless-admin ./cmd/mqttless-admin
	$(GO) build -o bin/mqttbench ./cmd/mqttbench
	MOTO_PORT=$(MOTO_PORT) localstack/connect-storm.sh

## bench-fanout: issue 16's fan-out figure on the local serverless stack
## (localstack/fanout.sh): FANOUT_SUBS (1000) subscribers, persistent
## sessions split over two proxies, subscribe at QoS 1 to one topic; a
## publisher on the first proxy sends FANOUT_MESSAGES (5) QoS 1 messages,
## one at a time; per message the time to PUBACK, to the last delivery, the
## subscribers reached and the duplicates with and without DUP (grep
## "FANOUT |"). Fails when a message missed a subscriber, had no PUBACK or
## came twice without DUP. FANOUT_FAIL_ONCE=1 hands the functions
## MQTTLESS_FANOUT_FAIL_ONCE=1: each fails its first chunk once, mid-way (v1 has none);
## FANOUT_ARGS adds mqttbench fanout flags. Not part of make test.
bench-fanout: moto-deps rie-deps functions-local
	$(GO) build -o bin/mqttless ./cmd/mqttless
	$(GO) build -o bin/mqttless-admin ./cmd/mqttless-admin
	$(GO) build -o bin/mqttbench ./cmd/mqttbench
	MOTO_PORT=$(MOTO_PORT) localstack/fanout.sh

## bench-order: issue 16's order figure: ORDER_RUNS (50) runs of 1,000
## messages from one publisher to one subscriber on one topic, at QoS 1
## and 2, MQTT 3.1.1 and 5.0, at the default -max-inflight 20, counting
## PUBLISH frames written without DUP after a later message (test/
## order_test.go; grep "ORDER |"). ORDER_STORE=dynamo runs the broker on
## DynamoDB (moto), ORDER_STORE=lambda on the local serverless stack.
## Without ORDER_STORE, the same runs go through delivery v2 too
## (-delivery v2 -store memory, TestV2OrderPerTopic: "V2 ORDER |").
ORDER_RUNS ?= 50
ORDER_STORE ?=
ORDER_GREP := grep -E 'ORDER \||^(ok|FAIL|---)'
bench-order: $(if $(filter lambda,$(ORDER_STORE)),moto-deps rie-deps functions-local,$(if $(ORDER_STORE),moto-deps))
ifeq ($(ORDER_STORE),)
	set -o pipefail; MQTTLESS_ORDER_RUNS=$(ORDER_RUNS) MQTTLESS_E2E_RACE=0 \
	  $(GO) test -run '^(TestOrderPerTopic|TestV2OrderPerTopic)$$' -count=1 -v -timeout 600m ./test/ | $(ORDER_GREP)
else ifeq ($(ORDER_STORE),dynamo)
	set -o pipefail; MQTTLESS_ORDER_RUNS=$(ORDER_RUNS) MQTTLESS_E2E_RACE=0 MQTTLESS_E2E_STORE=dynamo MOTO_PORT=$(MOTO_PORT) \
	  localstack/with-moto.sh $(GO) test -run '^TestOrderPerTopic$$' -count=1 -v -timeout 600m ./test/ | $(ORDER_GREP)
else
	set -o pipefail; MQTTLESS_ORDER_RUNS=$(ORDER_RUNS) MQTTLESS_E2E_RACE=0 MQTTLESS_E2E_STACK=lambda \
	  MQTTLESS_E2E_RIE=$(CURDIR)/bin/aws-lambda-rie MOTO_PORT=$(MOTO_PORT) \
	  localstack/with-moto.sh $(GO) test -run '^TestOrderPerTopic$$' -count=1 -v -timeout 600m ./test/ | $(ORDER_GREP)
endif

## bench-init: the cold start of a handler function under the Lambda
## Runtime Interface Emulator, on this machine: the init phase as the
## emulator reports it and the time to the first answer, medians of
## INIT_RUNS starts of ./functions/publish (or of the bootstrap BOOTSTRAP).
## No DynamoDB is needed: the event is answered without it.
INIT_RUNS ?= 20
BOOTSTRAP ?=
bench-init: rie-deps
	MQTTLESS_BENCH_RIE=$(CURDIR)/bin/aws-lambda-rie MQTTLESS_BENCH_BOOTSTRAP=$(if $(BOOTSTRAP),$(abspath $(BOOTSTRAP))) \
	  $(GO) test -run='^$$' -bench='^BenchmarkColdStart$$' -benchtime=$(INIT_RUNS)x -count=1 ./infra/lambdafn/

clean:
	rm -rf bin

## sam-deps: installs the AWS SAM CLI and cfn-lint from PyPI into .venv.
sam-deps: .venv/bin/sam

.venv/bin/sam:
	[ -x .venv/bin/python ] || python3 -m venv .venv
	.venv/bin/pip install -q aws-sam-cli cfn-lint

## sam-check: lints template.yaml (cfn-lint, then sam validate --lint) and
## builds it (sam build, without Docker), failing on any error or warning;
## checks the five bootstraps are linux/$(FUNCTION_GOARCH) builds.
sam-check: sam-deps
	.venv/bin/cfn-lint template.yaml
	$(SAM) validate --lint --template-file template.yaml --region $(or $(AWS_REGION),us-east-1)
	@mkdir -p build; set -o pipefail; $(SAM) build --build-in-source --template-file template.yaml --build-dir $(SAM_BUILD_DIR) \
	  --parameter-overrides FunctionArchitecture=$(if $(filter amd64,$(FUNCTION_GOARCH)),x86_64,arm64) 2>&1 | tee build/sam-build.log; \
	if grep -qiE '^(warning|.*\bwarning:)' build/sam-build.log; then echo "sam-check: sam build warned"; exit 1; fi
	@for f in ConnectFunction PublishFunction SubscribeFunction SessionFunction LeaseFunction; do \
	  $(GO) version -m $(SAM_BUILD_DIR)/$$f/bootstrap | grep -q "GOARCH=$(FUNCTION_GOARCH)" || { echo "sam-check: $$f/bootstrap is not a $(FUNCTION_GOARCH) build"; exit 1; }; \
	done; echo "sam-check: template lints clean; $(SAM_BUILD_DIR) holds the five functions (linux/$(FUNCTION_GOARCH))"

# sam build runs these (BuildMethod makefile, CodeUri the repository root)
# with ARTIFACTS_DIR set: each builds its function for Lambda
# (provided.al2023, linux/$(FUNCTION_GOARCH)) into $(ARTIFACTS_DIR)/bootstrap.
build-ConnectFunction build-PublishFunction build-SubscribeFunction build-SessionFunction:
	@[ -n "$(ARTIFACTS_DIR)" ] || { echo "$@: run by sam build, which sets ARTIFACTS_DIR"; exit 1; }
	GOOS=linux GOARCH=$(FUNCTION_GOARCH) CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags="-s $(VERSION_LDFLAGS)" \
	  -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(shell echo $(patsubst build-%Function,%,$@) | tr A-Z a-z)

# The lease function is the session function's code (template.yaml).
build-LeaseFunction:
	@[ -n "$(ARTIFACTS_DIR)" ] || { echo "$@: run by sam build, which sets ARTIFACTS_DIR"; exit 1; }
	GOOS=linux GOARCH=$(FUNCTION_GOARCH) CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags="-s $(VERSION_LDFLAGS)" \
	  -o $(ARTIFACTS_DIR)/bootstrap ./functions/session

## deploy: builds and deploys the stack to AWS (STACK_NAME, AWS_REGION or
## the CLI's region): sam build, then sam deploy, guided the first time
## (answers saved in $(SAM_CONFIG)). Run make image first: the proxy's image
## must be in ECR. IMAGE_URI (default: what make image pushed last, from
## build/image-uri) is passed as ProxyImageUri; PARAMS adds overrides such
## as "CertificateArn=arn:aws:acm:...".
deploy: sam-deps
	$(SAM) build --build-in-source --template-file template.yaml --build-dir $(SAM_BUILD_DIR)
	@uri="$${IMAGE_URI:-$$(cat build/image-uri 2>/dev/null)}"; \
	over="$$(echo $$([ -n "$$uri" ] && echo "ProxyImageUri=$$uri") $(PARAMS))"; \
	mkdir -p build; \
	if [ -f $(SAM_CONFIG) ]; then \
	  set -x; $(SAM) deploy --template-file $(SAM_BUILD_DIR)/template.yaml --config-file $(CURDIR)/$(SAM_CONFIG) \
	    $${over:+--parameter-overrides $$over}; \
	else \
	  set -x; $(SAM) deploy --guided --template-file $(SAM_BUILD_DIR)/template.yaml --config-file $(CURDIR)/$(SAM_CONFIG) \
	    --stack-name $(STACK_NAME) $(if $(AWS_REGION),--region $(AWS_REGION)) --capabilities CAPABILITY_IAM --resolve-s3 \
	    $${over:+--parameter-overrides $$over}; \
	fi

## image: builds the proxy's container image (cmd/mqttless/Dockerfile,
## linux/arm64) and pushes it to the ECR repository IMAGE_REPO (created
## when missing) as IMAGE_TAG and latest; writes its URI to build/image-uri
## for make deploy. Needs Docker (buildx) and the AWS CLI.
image:
	@set -euo pipefail; \
	region="$${AWS_REGION:-$$(aws configure get region)}"; \
	account="$$(aws sts get-caller-identity --query Account --output text)"; \
	registry="$$account.dkr.ecr.$$region.amazonaws.com"; \
	aws ecr describe-repositories --region "$$region" --repository-names $(IMAGE_REPO) >/dev/null 2>&1 || \
	  aws ecr create-repository --region "$$region" --repository-name $(IMAGE_REPO) --image-scanning-configuration scanOnPush=true >/dev/null; \
	aws ecr get-login-password --region "$$region" | docker login --username AWS --password-stdin "$$registry"; \
	docker buildx build --platform linux/arm64 -f cmd/mqttless/Dockerfile --build-arg VERSION=$(VERSION) \
	  -t "$$registry/$(IMAGE_REPO):$(IMAGE_TAG)" -t "$$registry/$(IMAGE_REPO):latest" --push .; \
	mkdir -p build; echo "$$registry/$(IMAGE_REPO):$(IMAGE_TAG)" > build/image-uri; \
	echo "pushed $$registry/$(IMAGE_REPO):$(IMAGE_TAG)"

## deploy-moto: what make test can deploy without Docker: the stack of
## template.yaml, built by sam build, deployed by localstack/deploy.sh (the
## script make localstack-deploy uses) to moto on MOTO_PORT, then checked:
## the table as template.yaml defines it (TTL, point-in-time recovery), the
## functions, the secret.
deploy-moto: moto-deps sam-deps
	MOTO_PORT=$(MOTO_PORT) localstack/with-moto.sh localstack/deploy.sh moto

## localstack-up: starts LocalStack (localstack/docker-compose.yml) and
## waits until it is ready. Needs Docker.
localstack-up:
	docker compose -f localstack/docker-compose.yml up -d --wait
	localstack/deploy.sh wait

## localstack-deploy: deploys the stack to LocalStack with
## localstack/deploy.sh: sam build (for this machine's architecture), then
## the template, with Proxy=none (LocalStack's community edition has no ECS
## nor ELB: the proxy runs on this machine, make localstack-test starts it).
localstack-deploy: sam-deps
	AWS_ENDPOINT_URL=http://127.0.0.1:$(LOCALSTACK_PORT) localstack/deploy.sh localstack

## localstack-test: the e2e suite against the stack on LocalStack: starts a
## proxy (bin/mqttless -invoker lambda) on 127.0.0.1:1883 that invokes the
## deployed functions, and runs ./test/ with MQTTLESS_E2E_ADDR.
localstack-test:
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o bin/mqttless ./cmd/mqttless
	AWS_ENDPOINT_URL=http://127.0.0.1:$(LOCALSTACK_PORT) localstack/test.sh

## localstack-down: stops LocalStack and deletes its state.
localstack-down:
	docker compose -f localstack/docker-compose.yml down -v

## test-faults: the fault-injection scenarios of issue 15 (test/faults_test.go)
## on the local serverless stack, verbose, one at a time: a DynamoDB fault
## proxy in front of moto, proxies killed for good, replaced with new ids,
## hanging functions, and a checker of what the clients recorded; grep
## "FAULT |" for the table. Every scenario runs; none is gated.
test-faults: moto-deps rie-deps functions-local
	MQTTLESS_E2E_STACK=lambda MQTTLESS_E2E_RIE=$(CURDIR)/bin/aws-lambda-rie MOTO_PORT=$(MOTO_PORT) \
	  localstack/with-moto.sh $(GO) test -count=1 -v -timeout 30m -run '^TestFault' ./test/
