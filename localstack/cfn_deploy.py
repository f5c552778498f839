"""cfn_deploy.py deploys the stack sam build made to an AWS emulator (moto or
LocalStack) through its CloudFormation API, and checks what it deployed.
localstack/deploy.sh runs it with the project's .venv (boto3, the SAM
translator and the SAM CLI's YAML loader come with aws-sam-cli). The
endpoint is AWS_ENDPOINT_URL.

  cfn_deploy.py deploy STACK BUILT_TEMPLATE BUCKET [Name=Value ...]
      uploads each function's build directory as a zip to BUCKET (created
      when missing), points the function's CodeUri at it, translates the
      SAM template to plain CloudFormation here (as the
      AWS::Serverless-2016-10-31 transform does: moto has none) into
      cloudformation.json beside BUILT_TEMPLATE, creates or updates the
      stack, waits for it and prints its outputs (OUTPUT_<Key>=VALUE).
      --shim-secrets (for moto) creates the template's secrets through the
      Secrets Manager API instead of the stack.
  cfn_deploy.py check STACK TEMPLATE ARCH SENT [--moto]
      checks the deployed table against TEMPLATE (keys, indexes, billing,
      TTL, point-in-time recovery), the functions (runtime, architecture
      ARCH, handler, environment) and the delivery secret; with --moto,
      what moto's CloudFormation ignores is checked in SENT, the
      CloudFormation template deploy sent.
  cfn_deploy.py secret ARN
      prints the value of a Secrets Manager secret.
  cfn_deploy.py wait
      waits until the endpoint answers (LocalStack after startup).
"""

import io
import json
import os
import sys
import time
import zipfile

import boto3
from botocore.config import Config
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
# The SAM translator finds the region through boto3's default session.
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
CFG = Config(region_name=REGION, retries={"max_attempts": 10, "mode": "standard"})


def client(name):
    return boto3.client(name, config=CFG, endpoint_url=os.environ["AWS_ENDPOINT_URL"])


class NoManagedPolicies:
    """The template names managed policies by ARN only: nothing to look up."""

    def load(self):
        return {}


def zip_dir(path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for root, _, files in os.walk(path):
            for f in sorted(files):
                full = os.path.join(root, f)
                info = zipfile.ZipInfo(os.path.relpath(full, path))
                info.external_attr = (os.stat(full).st_mode & 0o777) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(full, "rb") as fh:
                    z.writestr(info, fh.read())
    return buf.getvalue()


def deploy(stack, built, bucket, overrides):
    with open(built) as f:
        tmpl = yaml_parse(f.read())
    base = os.path.dirname(os.path.abspath(built))
    s3 = client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:
        s3.create_bucket(Bucket=bucket)
    for name, res in tmpl["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        code = res["Properties"]["CodeUri"]
        if not isinstance(code, str) or code.startswith("s3://"):
            continue
        key = f"{stack}/{name}.zip"
        s3.put_object(Bucket=bucket, Key=key, Body=zip_dir(os.path.join(base, code)))
        res["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
        print(f"cfn_deploy: uploaded {code} to s3://{bucket}/{key}")
    tmpl.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    shim = "--shim-secrets" in overrides
    params = dict(kv.split("=", 1) for kv in overrides if kv != "--shim-secrets")
    cfn_tmpl = transform(tmpl, dict(params), NoManagedPolicies())
    if shim:
        shim_secrets(stack, cfn_tmpl)
    out = os.path.join(base, "cloudformation.json")
    with open(out, "w") as f:
        json.dump(cfn_tmpl, f, indent=1)
    print(f"cfn_deploy: translated to {out} ({len(cfn_tmpl['Resources'])} resources)")

    cfn = client("cloudformation")
    args = dict(
        StackName=stack,
        TemplateBody=json.dumps(cfn_tmpl),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    exists = False
    try:
        st = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        exists = not st["StackStatus"].startswith("DELETE")
        if st["StackStatus"] in ("ROLLBACK_COMPLETE", "CREATE_FAILED"):
            cfn.delete_stack(StackName=stack)
            wait(cfn, stack, deleting=True)
            exists = False
    except cfn.exceptions.ClientError:
        pass
    if exists:
        try:
            cfn.update_stack(**args)
            print(f"cfn_deploy: updating stack {stack}")
        except cfn.exceptions.ClientError as e:
            if "No updates are to be performed" not in str(e):
                raise
            print(f"cfn_deploy: stack {stack} is up to date")
    else:
        cfn.create_stack(**args)
        print(f"cfn_deploy: creating stack {stack}")
    st = wait(cfn, stack)
    for o in st.get("Outputs", []):
        print(f"OUTPUT_{o['OutputKey']}={o['OutputValue']}")


def shim_secrets(stack, cfn_tmpl):
    """For moto, whose CloudFormation has no AWS::SecretsManager::Secret:
    creates each secret through the Secrets Manager API instead (a random
    value, as GenerateSecretString would make), removes it from the
    template and puts its ARN wherever the template refers to it."""
    sm = client("secretsmanager")
    arns = {}
    for name, res in list(cfn_tmpl["Resources"].items()):
        if res["Type"] != "AWS::SecretsManager::Secret":
            continue
        secret_name = f"{stack}-{name}"
        try:
            arns[name] = sm.describe_secret(SecretId=secret_name)["ARN"]
        except sm.exceptions.ResourceNotFoundException:
            value = sm.get_random_password(PasswordLength=64, ExcludePunctuation=True)["RandomPassword"]
            arns[name] = sm.create_secret(Name=secret_name, SecretString=value)["ARN"]
        del cfn_tmpl["Resources"][name]
        print(f"cfn_deploy: secret {name} created outside the stack (moto): {arns[name]}")

    def sub(node):
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in arns:
                return arns[node["Ref"]]
            return {k: sub(v) for k, v in node.items()}
        if isinstance(node, list):
            return [sub(v) for v in node]
        return node

    cfn_tmpl["Resources"] = sub(cfn_tmpl["Resources"])
    cfn_tmpl["Outputs"] = sub(cfn_tmpl.get("Outputs", {}))


def wait(cfn, stack, deleting=False):
    deadline = time.time() + 900
    while time.time() < deadline:
        try:
            st = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        except cfn.exceptions.ClientError:
            if deleting:
                return None
            raise
        status = st["StackStatus"]
        if status.endswith("_IN_PROGRESS"):
            time.sleep(1)
            continue
        if deleting and status == "DELETE_COMPLETE":
            return None
        if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            return st
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
        for e in events[:20]:
            if "FAILED" in e.get("ResourceStatus", ""):
                print(f"  {e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}", file=sys.stderr)
        sys.exit(f"cfn_deploy: stack {stack} is {status}")
    sys.exit(f"cfn_deploy: stack {stack} not done after 15 minutes")


def check(stack, template, arch, sent_path, moto):
    """Checks the deployed stack against the source template; sent_path is
    the CloudFormation template deploy sent, arch the functions'
    architecture, moto whether the emulator is moto."""
    with open(template) as f:
        tmpl = yaml_parse(f.read())
    cfn = client("cloudformation")
    st = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in st.get("Outputs", [])}
    stack_params = {p["ParameterKey"]: p["ParameterValue"] for p in st.get("Parameters", [])}
    failures = []

    def expect(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    want = tmpl["Resources"]["Table"]["Properties"]
    table = outputs.get("TableName")
    expect(bool(table), "the stack outputs TableName")
    ddb = client("dynamodb")
    t = ddb.describe_table(TableName=table)["Table"]
    expect(t["TableStatus"] == "ACTIVE", f"table {table} is ACTIVE")
    expect(t.get("BillingModeSummary", {}).get("BillingMode") == want["BillingMode"],
           f"table {table} is {want['BillingMode']} (on demand)")
    key = {k["AttributeName"]: k["KeyType"] for k in t["KeySchema"]}
    expect(key == {k["AttributeName"]: k["KeyType"] for k in want["KeySchema"]}, f"table key {key}")
    gsis = {g["IndexName"]: [k["AttributeName"] for k in g["KeySchema"]] for g in t.get("GlobalSecondaryIndexes", [])}
    want_gsis = {g["IndexName"]: [k["AttributeName"] for k in g["KeySchema"]] for g in want["GlobalSecondaryIndexes"]}
    expect(gsis == want_gsis, f"table indexes {gsis}")
    # moto's CloudFormation creates tables without their TTL and
    # point-in-time recovery settings, and functions without their
    # architecture: on moto those are checked in the template sent.
    sent = {}
    if moto:
        with open(sent_path) as f:
            sent = json.load(f)["Resources"]
    if moto:
        props = sent["Table"]["Properties"]
        expect(props.get("TimeToLiveSpecification") == want["TimeToLiveSpecification"],
               f"table TTL {props.get('TimeToLiveSpecification')} (moto ignores it: checked in the template sent)")
        expect(props.get("PointInTimeRecoverySpecification") == {"PointInTimeRecoveryEnabled": True},
               "table point-in-time recovery on (moto ignores it: checked in the template sent)")
        expect(sent["Table"].get("DeletionPolicy") == "Retain" and sent["Table"].get("UpdateReplacePolicy") == "Retain",
               "table retained on stack deletion and replacement (checked in the template sent)")
    else:
        ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        expect(ttl.get("TimeToLiveStatus") == "ENABLED" and ttl.get("AttributeName") == want["TimeToLiveSpecification"]["AttributeName"],
               f"table TTL {ttl}")
        pitr = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        expect(pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED",
               "table point-in-time recovery ENABLED")

    lam = client("lambda")
    fns = dict(kv.split("=", 1) for kv in outputs.get("LambdaFunctions", "").split(",") if kv)
    expect(sorted(fns) == ["connect", "lease", "publish", "session", "subscribe"], f"the stack outputs LambdaFunctions {fns}")
    for group, name in sorted(fns.items()):
        c = lam.get_function_configuration(FunctionName=name)
        env = c.get("Environment", {}).get("Variables", {})
        expect(c["Runtime"] == "provided.al2023" and c["Handler"] == "bootstrap", f"function {name}: provided.al2023, bootstrap")
        if moto:
            props = sent[f"{group.capitalize()}Function"]["Properties"]
            archs = [stack_params.get(a["Ref"]) if isinstance(a, dict) else a for a in props.get("Architectures", [])]
            expect(archs == [arch],
                   f"function {name}: architectures {archs} (moto ignores them: checked in the template sent)")
        else:
            expect(c.get("Architectures") == [arch], f"function {name}: architectures {c.get('Architectures')}")
        expect(env.get("MQTTLESS_TABLE") == table, f"function {name}: MQTTLESS_TABLE={env.get('MQTTLESS_TABLE')}")
        expect(bool(env.get("MQTTLESS_DELIVERY_SECRET_ARN")) and "MQTTLESS_DELIVERY_SECRET" not in env,
               f"function {name}: the secret by ARN only")
    arn = outputs.get("DeliverySecretArn", "")
    try:
        v = client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        expect(len(v) >= 16, f"delivery secret {arn} holds {len(v)} characters")
    except Exception as e:  # moto's CloudFormation may not create secrets
        print(f"skip delivery secret {arn}: {e}")
    if failures:
        sys.exit(f"cfn_deploy: {len(failures)} checks failed")
    print(f"cfn_deploy: stack {stack} checked")


def wait_ready():
    deadline = time.time() + 180
    while True:
        try:
            client("dynamodb").list_tables()
            client("lambda").list_functions()
            client("cloudformation").list_stacks()
            return
        except Exception as e:
            if time.time() > deadline:
                sys.exit(f"cfn_deploy: {os.environ['AWS_ENDPOINT_URL']} not ready after 3 minutes: {e}")
            time.sleep(2)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "deploy":
        deploy(args[0], args[1], args[2], args[3:])
    elif cmd == "check":
        check(args[0], args[1], args[2], args[3], "--moto" in args[4:])
    elif cmd == "secret":
        print(client("secretsmanager").get_secret_value(SecretId=args[0])["SecretString"])
    elif cmd == "wait":
        wait_ready()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
