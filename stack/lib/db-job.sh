# shellcheck shell=bash
# One-shot tasks for the database's upkeep, sourced by stack/deploy and stack/restore: a Swarm
# service of one task that is never restarted, modelled on one of the stack's services (its image, secrets, configs, environment,
# networks and placement; optionally its volumes). So the task runs on the data node with the db
# image that node already has, reaches `db` on the backend network, reads the passwords from the
# secrets (never from a command line or an environment), and works through any manager's engine.
#
#   db_job STACK TEMPLATE-SERVICE WITH-VOLUMES(0|1) TIMEOUT COMMAND...
#
# runs COMMAND (the image's entrypoint is replaced by its first word), prints its output (stdout and
# stderr as the task wrote them), removes the job, and returns the command's exit status (1 when the
# task could not run or did not finish in TIMEOUT seconds). Needs DOCKER and log().

db_job() {
  local stack="$1"
  local template="${stack}_$2" with_volumes="$3" timeout="$4"
  shift 4
  local image name fmt args=() state="" task="" deadline code
  if ! image="$("$DOCKER" service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$template" 2>/dev/null)"; then
    echo "no service $template: is the stack '$stack' deployed (stack/deploy)?" >&2
    return 1
  fi
  fmt='{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}--secret=source={{.SecretName}},target={{.File.Name}}{{"\n"}}{{end}}'
  fmt+='{{range .Spec.TaskTemplate.ContainerSpec.Configs}}--config=source={{.ConfigName}},target={{.File.Name}}{{"\n"}}{{end}}'
  fmt+='{{range .Spec.TaskTemplate.ContainerSpec.Env}}--env={{.}}{{"\n"}}{{end}}'
  fmt+='{{range .Spec.TaskTemplate.Networks}}--network={{.Target}}{{"\n"}}{{end}}'
  fmt+='{{if .Spec.TaskTemplate.Placement}}{{range .Spec.TaskTemplate.Placement.Constraints}}--constraint={{.}}{{"\n"}}{{end}}{{end}}'
  if [[ $with_volumes == 1 ]]; then
    fmt+='{{range .Spec.TaskTemplate.ContainerSpec.Mounts}}--mount=type={{.Type}},source={{.Source}},target={{.Target}}{{"\n"}}{{end}}'
  fi
  mapfile -t args < <("$DOCKER" service inspect --format "$fmt" "$template" | sed '/^$/d')
  name="${stack}_db-job-$(date +%Y%m%d%H%M%S)-$$"
  # Not labelled with the stack's namespace: `stack deploy --prune` and the deploy's wait ignore it.
  # Not a `--mode replicated-job` (Docker 20.10): removing one leaves its exited container behind,
  # which holds the backups volume (stack/destroy --volumes then fails); a replicated service's
  # go with it.
  if ! "$DOCKER" service create --detach --quiet --name "$name" --label "swarmwatch.stack=$stack" \
        --replicas 1 --restart-condition none --no-resolve-image "${args[@]}" \
        --entrypoint "$1" "$image" "${@:2}" >/dev/null; then
    echo "could not create the one-shot service $name" >&2
    return 1
  fi
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    read -r task state < <("$DOCKER" service ps --no-trunc --format '{{.ID}} {{.CurrentState}}' "$name" 2>/dev/null | head -n 1) || true
    [[ $state == Complete* || $state == Failed* || $state == Rejected* || $state == Shutdown* ]] && break
    sleep 1
  done
  "$DOCKER" service logs --raw "$name" 2>&1 || true
  code=1
  if [[ $state == Complete* ]]; then
    code=0
  elif [[ $state == Failed* ]]; then
    code="$("$DOCKER" inspect --format '{{.Status.ContainerStatus.ExitCode}}' "$task" 2>/dev/null || echo 1)"
    [[ $code =~ ^[1-9][0-9]*$ ]] || code=1
  elif [[ -n $task ]]; then
    echo "the one-shot task ended ${state:-nowhere} within ${timeout}s: $("$DOCKER" inspect --format '{{.Status.Err}}' "$task" 2>/dev/null)" >&2
  else
    echo "the one-shot service $name got no task within ${timeout}s" >&2
  fi
  "$DOCKER" service rm "$name" >/dev/null 2>&1 || true
  return "$code"
}
