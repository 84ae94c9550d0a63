# bash completion for altoctl: verbs (from `altoctl --help`), domain names (`altoctl list --all
# --name`) where a verb takes a domain, PCI addresses where it takes a device, and each verb's
# options (from `altoctl VERB --help`). Installed as share/bash-completion/completions/altoctl.
_altoctl() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
  fi
  local cmd=${words[0]} verb= i globals=()
  # The verb is the first word that is neither an option nor a global option's value.
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      --state-dir|--config-dir|--sysfs-root) globals+=("${words[i]}" "${words[i+1]}"); ((i++)) ;;
      --state-dir=*|--config-dir=*|--sysfs-root=*) globals+=("${words[i]}") ;;
      -*) ;;
      *) verb=${words[i]}; break ;;
    esac
  done
  case $prev in
    --state-dir|--config-dir|--sysfs-root) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --mode) COMPREPLY=($(compgen -W "acpi" -- "$cur")); return ;;
    --cap) COMPREPLY=($(compgen -W "pci" -- "$cur")); return ;;
    --driver) COMPREPLY=($(compgen -W "vfio" -- "$cur")); return ;;
    --autoprobe) COMPREPLY=($(compgen -W "on off" -- "$cur")); return ;;
  esac
  if [ -z "$verb" ]; then
    local verbs
    verbs=$("$cmd" --help 2>/dev/null | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && /^  [a-z]/ {print $1}')
    COMPREPLY=($(compgen -W "$verbs --help --state-dir --config-dir" -- "$cur"))
    return
  fi
  if [[ $cur == -* ]]; then
    local opts
    opts=$("$cmd" "$verb" --help 2>/dev/null | grep -o -- '--[a-z][a-z-]*' | sort -u)
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  case $verb in
    create|define) COMPREPLY=($(compgen -f -X '!*.xml' -- "$cur") $(compgen -d -- "$cur")) ;;
    start|undefine|edit|autostart)
      COMPREPLY=($(compgen -W "$("$cmd" "${globals[@]}" list --all --name 2>/dev/null)" -- "$cur")) ;;
    attach-device|detach-device)  # DOMAIN, then the device's XML file
      local args=0
      for ((i = i + 1; i < cword; i++)); do [[ ${words[i]} == -* ]] || ((args++)); done
      if ((args == 0)); then
        COMPREPLY=($(compgen -W "$("$cmd" "${globals[@]}" list --all --name 2>/dev/null)" -- "$cur"))
      else
        COMPREPLY=($(compgen -f -X '!*.xml' -- "$cur") $(compgen -d -- "$cur"))
      fi ;;
    list|recover|version|host-validate) ;;
    nodedev-*|sriov-*)
      COMPREPLY=($(compgen -W "$(ls /sys/bus/pci/devices 2>/dev/null)" -- "$cur")) ;;
    *)  # every other verb takes a domain; running ones first is what virsh's completion offers
      COMPREPLY=($(compgen -W "$("$cmd" "${globals[@]}" list --all --name 2>/dev/null)" -- "$cur")) ;;
  esac
}
complete -F _altoctl altoctl
