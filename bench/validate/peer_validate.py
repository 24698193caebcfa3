#!/usr/bin/env python3
"""The Python peer: how most people check a chat fine-tuning file today.

    python3 bench/validate/peer_validate.py FILE

These are the format checks of the OpenAI Cookbook notebook "Data preparation and analysis for
chat model fine-tuning" (examples/Chat_finetuning_data_prep), unchanged, with two differences
that make it a fair peer for a streaming validator:

  * the file is streamed (`for line in f`, one json.loads per line) instead of loaded into a list
    first, so its memory stays flat like ours;
  * a line that is not valid JSON is counted as a format error ("json_syntax") instead of
    stopping the script with a traceback.

The notebook's token counting and statistics (tiktoken) are not run: only the format checks.
It prints each error kind with its count and the total, and exits 1 when there are errors.
"""
import json
import sys
from collections import defaultdict


def main(path: str) -> int:
    format_errors = defaultdict(int)
    n = 0
    with open(path, 'r', encoding='utf-8') as f:
        for line in f:
            n += 1
            try:
                ex = json.loads(line)
            except json.JSONDecodeError:
                format_errors['json_syntax'] += 1
                continue

            # --- the cookbook's checks, as written there ---
            if not isinstance(ex, dict):
                format_errors['data_type'] += 1
                continue

            messages = ex.get('messages', None)
            if not messages:
                format_errors['missing_messages_list'] += 1
                continue

            for message in messages:
                if 'role' not in message or 'content' not in message:
                    format_errors['message_missing_key'] += 1

                if any(k not in ('role', 'content', 'name', 'function_call', 'weight') for k in message):
                    format_errors['message_unrecognized_key'] += 1

                if message.get('role', None) not in ('system', 'user', 'assistant', 'function'):
                    format_errors['unrecognized_role'] += 1

                content = message.get('content', None)
                function_call = message.get('function_call', None)

                if (not content and not function_call) or not isinstance(content, str):
                    format_errors['missing_content'] += 1

            if not any(message.get('role', None) == 'assistant' for message in messages):
                format_errors['example_missing_assistant_message'] += 1

    print(f'Num examples: {n}')
    if format_errors:
        print('Found errors:')
        for k, v in format_errors.items():
            print(f'{k}: {v}')
    else:
        print('No errors found')
    total = sum(format_errors.values())
    print(f'errors: {total}')
    return 1 if total else 0


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: peer_validate.py FILE')
    sys.exit(main(sys.argv[1]))
