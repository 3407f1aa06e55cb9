# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion for vuctl: verbs, options, set keys and their values, and
# device ids asked from the running sidecar (vuctl -j status), so a typo
# in --device is caught before the call.

_vuctl_devices() {
        local sock_args=()
        [[ -n "$1" ]] && sock_args=(--socket "$1")
        vuctl "${sock_args[@]}" --timeout 2 -j status 2>/dev/null |
                python3 -c 'import json,sys; [print(d["id"]) for d in json.load(sys.stdin)["devices"]]' 2>/dev/null
}

_vuctl() {
        local cur prev words cword
        _init_completion || return

        local verbs="status stats queues dump log set resize reset-stats monitor ping help"
        local opts="--socket --device --output --json --watch --from --count --shrink --timeout --help --version"
        local socket="" verb="" i

        for ((i = 1; i < cword; i++)); do
                case "${words[i]}" in
                --socket | -s) socket="${words[i + 1]}" ;;
                --socket=*) socket="${words[i]#--socket=}" ;;
                -*) ;;
                *)
                        if [[ -z "$verb" && " $verbs " == *" ${words[i]} "* ]]; then
                                verb="${words[i]}"
                        fi
                        ;;
                esac
        done

        case "$prev" in
        --socket | -s)
                _filedir sock
                [[ ${#COMPREPLY[@]} -eq 0 ]] && _filedir
                return
                ;;
        --device | -d)
                mapfile -t COMPREPLY < <(compgen -W "$(_vuctl_devices "$socket")" -- "$cur")
                return
                ;;
        --output | -o)
                mapfile -t COMPREPLY < <(compgen -W "table json prometheus" -- "$cur")
                return
                ;;
        --watch | -w | --from | --count | --timeout | -t)
                return
                ;;
        log-level)
                [[ "$verb" == set ]] && mapfile -t COMPREPLY < <(compgen -W "err warning notice info debug" -- "$cur")
                return
                ;;
        read-only)
                [[ "$verb" == set ]] && mapfile -t COMPREPLY < <(compgen -W "on off" -- "$cur")
                return
                ;;
        poll)
                [[ "$verb" == set ]] && mapfile -t COMPREPLY < <(compgen -W "off" -- "$cur")
                return
                ;;
        link)
                [[ "$verb" == set ]] && mapfile -t COMPREPLY < <(compgen -W "up down" -- "$cur")
                return
                ;;
        iops | bps)
                [[ "$verb" == set ]] && return
                ;;
        esac

        if [[ "$cur" == -* ]]; then
                mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        elif [[ -z "$verb" ]]; then
                mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur")
        elif [[ "$verb" == set ]]; then
                mapfile -t COMPREPLY < <(compgen -W "log-level read-only iops bps poll link" -- "$cur")
        fi
}

complete -F _vuctl vuctl
